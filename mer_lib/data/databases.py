"""What the public micro-expression databases hold: a cited table of facts.

The loaders (:mod:`mer_lib.data.loaders`) read these databases; this module
says how large they are, so that a chapter can compute with the figures
(totals, class shares, clips per subject) instead of typing them. Every figure
carries its source. The databases themselves are licensed to researchers by
their labs and are never downloaded here.

Chapter ``book/15_limits_and_ethics.md`` uses the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DatabaseFacts", "DATABASE_FACTS", "facts_table", "composite_classes", "REFERENCES",
           "PUBLISHED_COMPOSITE_RESULTS"]

#: Full references of the sources the figures come from.
REFERENCES = {
    "Qu2018": "F. Qu, S.-J. Wang, W.-J. Yan, H. Li, S. Wu and X. Fu, 'CAS(ME)^2: A database for spontaneous "
              "macro-expression and micro-expression spotting and recognition', IEEE Transactions on Affective "
              "Computing 9(4), 424-436, 2018.",
    "Yan2014": "W.-J. Yan, X. Li, S.-J. Wang, G. Zhao, Y.-J. Liu, Y.-H. Chen and X. Fu, 'CASME II: An improved "
               "spontaneous micro-expression database and the baseline evaluation', PLoS ONE 9(1), e86041, 2014.",
    "Davison2018": "A. K. Davison, C. Lansley, N. Costen, K. Tan and M. H. Yap, 'SAMM: A spontaneous micro-facial "
                   "movement dataset', IEEE Transactions on Affective Computing 9(1), 116-129, 2018.",
    "Li2013": "X. Li, T. Pfister, X. Huang, G. Zhao and M. Pietikäinen, 'A spontaneous micro-expression database: "
              "inducement, collection and baseline', IEEE FG 2013.",
    "See2019": "J. See, M. H. Yap, J. Li, X. Hong and S.-J. Wang, 'MEGC 2019 - the second facial micro-expressions "
               "grand challenge', IEEE FG 2019.",
    "workbook": "the CAS(ME)^2 coding workbook CAS(ME)^2code_final.xlsx, sheet CASFEcode_final, as described in "
                "the project's reference notes on the databases (DATASETS.md)",
    "notes": "the project's reference notes on the databases (DATASETS.md), which collect the results published "
             "on the MEGC 2019 composite recognition protocol",
    "YanLi2020": "H. Yan and L. Li, 'Micro-expression recognition using enriched two stream 3D convolutional "
                 "network', CSAE 2020, Table 2.",
}


@dataclass(frozen=True)
class DatabaseFacts:
    """The size and make-up of one database, each figure with its source.

    Attributes
    ----------
    name : str
    subjects : int
        People recorded.
    fps : int or None
        Frames per second of the recordings (None for a composite).
    clips : int
        Micro-expression clips the database releases.
    classes : dict
        Clips per class, in the class scheme named by ``scheme``.
    scheme : str
        Which labels ``classes`` counts ("MEGC 2019 three classes", ...).
    elicitation : str
        How the expressions were obtained.
    sources : dict
        Field name -> key of :data:`REFERENCES`.
    """

    name: str
    subjects: int
    fps: int | None
    clips: int
    classes: dict
    scheme: str
    elicitation: str
    sources: dict = field(default_factory=dict)

    @property
    def clips_in_classes(self) -> int:
        """The clips that ``classes`` counts (at most ``clips``)."""
        return int(sum(self.classes.values()))


#: The four databases the loaders read, and the MEGC 2019 composite built from three of them.
DATABASE_FACTS = (
    DatabaseFacts("CAS(ME)²", subjects=22, fps=30, clips=57,
                  classes={"negative": 21, "positive": 8, "surprise": 9, "others": 19},
                  scheme="the workbook's emotion classes, micro-expression rows",
                  elicitation="induced in a laboratory by nine emotional video clips (the workbook's stimulus codes)",
                  sources={"subjects": "Qu2018", "fps": "Qu2018", "clips": "workbook", "classes": "workbook",
                           "elicitation": "workbook"}),
    DatabaseFacts("CASME II", subjects=26, fps=200, clips=247,
                  classes={"negative": 88, "positive": 32, "surprise": 25},
                  scheme="MEGC 2019 three classes (negative = disgust + repression)",
                  elicitation="induced in a laboratory ('a well-controlled laboratory environment')",
                  sources={"subjects": "Yan2014", "fps": "Yan2014", "clips": "Yan2014", "classes": "See2019",
                           "elicitation": "Yan2014"}),
    DatabaseFacts("SAMM", subjects=32, fps=200, clips=159,
                  classes={"negative": 92, "positive": 26, "surprise": 15},
                  scheme="MEGC 2019 three classes",
                  elicitation="induced in a laboratory by stimuli tailored to each participant",
                  sources={"subjects": "Davison2018", "fps": "Davison2018", "clips": "Davison2018",
                           "classes": "See2019", "elicitation": "Davison2018"}),
    DatabaseFacts("SMIC-HS", subjects=16, fps=100, clips=164,
                  classes={"negative": 70, "positive": 51, "surprise": 43},
                  scheme="its own three classes (also MEGC 2019's)",
                  elicitation="induced in a laboratory by emotional video clips",
                  sources={"subjects": "Li2013", "fps": "Li2013", "clips": "Li2013", "classes": "See2019",
                           "elicitation": "Li2013"}),
    DatabaseFacts("MEGC 2019 composite", subjects=68, fps=None, clips=442,
                  classes={"negative": 250, "positive": 109, "surprise": 83},
                  scheme="MEGC 2019 three classes (SMIC-HS + CASME II + SAMM)",
                  elicitation="those of its three databases",
                  sources={"subjects": "See2019", "clips": "See2019", "classes": "See2019"}),
)


def composite_classes(names=("SMIC-HS", "CASME II", "SAMM")):
    """The class counts of a composite: the sum of the named databases' classes.

    Parameters
    ----------
    names : sequence of str
        Databases of :data:`DATABASE_FACTS` counted in the same class scheme.

    Returns
    -------
    dict
        Class -> clips.

    Examples
    --------
    >>> composite_classes()
    {'negative': 250, 'positive': 109, 'surprise': 83}
    """
    from mer_lib.errors import UserInputError

    by_name = {d.name: d for d in DATABASE_FACTS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UserInputError(f"names: unknown database(s) {unknown}; known: {', '.join(by_name)}")
    total = {}
    for n in names:
        for c, k in by_name[n].classes.items():
            total[c] = total.get(c, 0) + k
    return total


def facts_table():
    """The facts as a table, one row per database, with the source of each figure.

    Returns
    -------
    pandas.DataFrame
        Columns ``database``, ``subjects``, ``fps``, ``clips``, ``clips in
        classes``, ``scheme``, ``classes`` (a dict), ``elicitation``,
        ``sources`` (field: reference key).
    """
    import pandas as pd

    return pd.DataFrame([{"database": d.name, "subjects": d.subjects, "fps": d.fps, "clips": d.clips,
                          "clips in classes": d.clips_in_classes, "scheme": d.scheme, "classes": dict(d.classes),
                          "elicitation": d.elicitation,
                          "sources": "; ".join(f"{k}: {v}" for k, v in d.sources.items())}
                         for d in DATABASE_FACTS])


#: (UF1, UAR) published on the MEGC 2019 composite (3 classes, 442 clips, leave-one-subject-out, predictions of
#: all 68 folds pooled), as collected in the project's notes (REFERENCES["notes"]); each from its method's paper.
PUBLISHED_COMPOSITE_RESULTS = {
    "LBP-TOP": (0.588, 0.579), "Bi-WOOF": (0.630, 0.623), "OFF-ApexNet": (0.720, 0.710),
    "Dual-Inception": (0.732, 0.728), "STSTNet": (0.735, 0.761), "RCN": (0.743, 0.719), "FeatRef": (0.784, 0.783),
    "EMR": (0.789, 0.782), "HTNet": (0.860, 0.848),
}
