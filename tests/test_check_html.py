"""tools/check_html.py without a browser: what it accepts and what it reports."""

import book_tools
import check_html

URL, BRANCH = book_tools.repository()
OWNER_REPO = URL.split("github.com/")[1]
GOOD = {"title": "t", "mathjax": True, "mathjaxVersion": "3.2.2", "mathjaxSrc": [], "math": 2, "typeset": 2,
        "mathErrors": 0, "brokenImages": [], "images": 1, "brokenVideos": [], "errorOutputs": [],
        "tracebacks": [], "solutions": 1, "openSolutions": [],
        "links": [f"https://colab.research.google.com/github/{OWNER_REPO}/blob/{BRANCH}/book/02_optical_flow_theory.ipynb",
                  f"https://mybinder.org/v2/gh/{OWNER_REPO}/{BRANCH}?urlpath=lab/tree/book/02_optical_flow_theory.ipynb"]}


def test_launch_buttons_are_read_as_repository_paths():
    colab, binder = GOOD["links"]
    assert check_html.launch_target(colab) == "book/02_optical_flow_theory.ipynb"
    assert check_html.launch_target(binder) == "book/02_optical_flow_theory.ipynb"
    assert check_html.launch_target("https://colab.research.google.com/github/other/repo/blob/main/x.ipynb") is None


def test_a_good_page_passes_and_each_fault_is_named():
    page = "book/02_optical_flow_theory.html"
    assert check_html.check_page(page, GOOD, ["file:///x.js"]) == []
    faults = {
        "tracebacks": ["Traceback (most recent call last)"],
        "brokenImages": ["file:///a.png"],
        "typeset": 1,
        "openSolutions": ["def f():"],
        "links": [GOOD["links"][0].replace("02_optical_flow_theory", "03_horn_schunck")],
    }
    words = {"tracebacks": "error", "brokenImages": "image", "typeset": "MathJax",
             "openSolutions": "collapsed", "links": "binder"}
    for key, value in faults.items():
        problems = check_html.check_page(page, dict(GOOD, **{key: value}), [])
        assert problems and words[key] in " ".join(problems), (key, problems)
    cdn = check_html.check_page(page, GOOD, ["https://cdn.example.org/mathjax/tex-chtml.js"])
    assert cdn and "network" in cdn[0]
