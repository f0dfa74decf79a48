"""tools/output_checks.py: each rule finds what it is for, and passes clean outputs and prose."""

import base64

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import output_checks

PNG = base64.b64encode(b"\x89PNG fake image").decode()
OTHER_PNG = base64.b64encode(b"\x89PNG another image").decode()


def _nb(*cells):
    return new_notebook(cells=list(cells))


def _cell(source, *outputs):
    cell = new_code_cell(source)
    cell.outputs = list(outputs)
    return cell


def _text(text, name="stdout"):
    return new_output("stream", name=name, text=text)


def _image(data=PNG):
    return new_output("display_data", data={"image/png": data, "text/plain": "<Figure>"})


def test_clean_outputs_pass():
    nb = _nb(_cell("print('a')\nprint('b')", _text("alpha 1\n"), _text("beta 2\n")),
             _cell("fig, ax = plt.subplots()\nax.plot([1, 2])", _image()),
             _cell("anim = animate_panels(p, t)\ndisplay(HTML(animation_html(anim)))",
                   new_output("display_data", data={"text/html": '<div class="animation">', "text/plain": ""})),
             _cell("def show():\n    plt.imshow(x)\n"),              # draws only when called
             _cell("fig = plt.figure()\nplt.close(fig)"))              # closed on purpose
    assert output_checks.output_problems(nb, {"animate_panels"}) == []


def test_a_block_printed_twice_in_a_row_is_found_also_across_stream_messages():
    rows = "shape (64, 64) error 1e-16\nshape (33, 47) error 2e-16\n"
    nb = _nb(_cell("print(table)", _text(rows), _text(rows)))
    [problem] = output_checks.output_problems(nb, set())
    assert problem.startswith("cell 0: stdout prints a block twice")
    short = _nb(_cell("print(x)", _text("ok\nok\n")))                # too short to be a block: two "ok" lines
    assert output_checks.output_problems(short, set()) == []


def test_the_same_image_twice_is_found():
    nb = _nb(_cell("fig, ax = plt.subplots()\ndisplay(fig)", _image(), _image()))
    assert output_checks.output_problems(nb, set()) == ["cell 0: the same image is shown twice"]
    two = _nb(_cell("fig, ax = plt.subplots()\ndisplay(fig)", _image(), _image(OTHER_PNG)))
    assert output_checks.output_problems(two, set()) == []


def test_progress_bar_residue_is_found():
    tqdm_states = _nb(_cell("data = synthetic_dataset(progress=True)",
                            _text("\rSynthME clips:  10%|#         | 2/20 [00:01<00:09,  2.0it/s]", "stderr"),
                            _text("\nSynthME clips: 100%|##########| 20/20 [00:10<00:00,  2.0it/s]\n", "stderr")))
    assert any("progress-bar residue" in p for p in output_checks.output_problems(tqdm_states, set()))
    keras = _nb(_cell("model.fit(x, y)", _text("17/17 ━━━━━━━━━━━━━━━━━━━━ 2s 95ms/step - loss: 1.1\n")))
    assert any("progress-bar residue" in p for p in output_checks.output_problems(keras, set()))
    summary = _nb(_cell("data = synthetic_dataset(progress=True)", _text("SynthME clips: 20/20 done in 00:10\n")))
    assert output_checks.output_problems(summary, set()) == []


def test_framework_log_noise_is_found():
    nb = _nb(_cell("import tensorflow", _text("2026-12-01 I0000 00:00:1733 cpu_feature_guard.cc:210] This "
                                               "TensorFlow binary is optimized\n", "stderr")))
    assert "framework log noise" in output_checks.output_problems(nb, set())[0]
    warning = _nb(_cell("f()", _text("/x/.venv/lib/python3.11/site-packages/keras/src/layer.py:12: UserWarning: "
                                     "Do not pass an input_shape\n", "stderr")))
    assert "framework log noise" in output_checks.output_problems(warning, set())[0]


def test_a_cell_that_draws_without_an_image_is_found():
    for source in ("fig, ax = plt.subplots()\nax.imshow(x)", "axes[0].plot(x, y)", "plot_confusion(cm)",
                   "from mer_lib.evaluate import plot_confusion\nfig = ev.plot_confusion(cm)"):
        nb = _nb(_cell(source, _text("printed something else\n")))
        [problem] = output_checks.output_problems(nb, {"plot_confusion"})
        assert "draws a figure" in problem and "shows no image" in problem, source
    assert output_checks.draws("x = np.histogram(a)", set()) is None        # not a drawing


def test_plotting_functions_of_the_library_are_found():
    found = output_checks.plotting_functions()
    assert {"two_stream_diagram", "animate_panels"} <= found


def test_prose_numbers_finds_a_typed_result_and_passes_what_is_no_result(tmp_path):
    md = tmp_path / "99_test.md"
    nb = _nb(new_markdown_cell("The noise falls from 29.1 to 4.7 with attenuation."),
             new_markdown_cell("With $\\sigma = 0.01$ and `alpha = 20.5`; the paper says it \"improves by 0.08\"."),
             new_markdown_cell("Yan & Li (2020) report 0.66 on their split; Table 3 lists 0.58."),
             new_markdown_cell("Write a number; within 25% counts. A 95% interval over the clips."))
    import jupytext

    jupytext.write(nb, md, fmt="md:myst")
    found = output_checks.prose_numbers(md)
    assert [f.split(":")[0] for f in found] == ["29.1", "4.7"]


def test_the_cli_reports_and_fails(tmp_path, capsys):
    path = tmp_path / "x.ipynb"
    nbformat.write(_nb(_cell("ax.plot(x)")), path)
    assert output_checks.main([str(path)]) == 1
    assert "shows no image" in capsys.readouterr().out
