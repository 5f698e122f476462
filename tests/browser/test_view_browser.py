"""`rundb view` in a real browser: a grid of 6 runs made by a real `rundb run` batch, a
real server, headless Chromium. Screenshots are saved as test artifacts."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from browserlib import chromium, page, serve, shot  # noqa: F401 - fixtures

from rundb import api
from rundb.home import Home

pytestmark = pytest.mark.slow

XSS = "<script>alert(1)</script>"

TRAIN = """
import time

lr = 0.1
opt = "adam"
epochs = 6
delay = 0.0

base = {"adam": 0.2, "sgd": 0.5}[opt]
for step in range(1, epochs + 1):
    loss = base + lr * 3 + 2.0 / step
    print(f"loss: {loss:.5f} (step {step})", flush=True)
    print(f"val_acc: {1 - loss / 4:.5f} (step {step})", flush=True)
    time.sleep(delay)
"""


def rundb(home, project, *args, wait=True):
    env = {**os.environ, "RUNDB_HOME": home.path}
    env.pop("RUNDB_INDEX", None)
    cmd = [sys.executable, "-m", "rundb_cli.main", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    result = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """(home, project, server URL, the 6 trials newest first): lr x opt by one batch."""
    root = tmp_path_factory.mktemp("view-browser")
    home = Home(str(root / "home")).ensure()
    project = root / "project"
    project.mkdir()
    (project / "train.py").write_text(textwrap.dedent(TRAIN))
    rundb(home, project, "run", "train.py", "lr=[0.1,0.01,0.001]", "opt=[adam,sgd]", "-y", "-q")
    trials = [r for r in api.runs(home) if not r.op.endswith("+")]
    assert len(trials) == 6
    for run in trials:
        api.label_runs(home, [run.id], set=f"lr={run.flags['lr']} {run.flags['opt']}")
    api.label_runs(home, [trials[-1].id], set=XSS)
    url, stop = serve(home)
    yield home, project, url, trials
    stop()


def rows(page):
    return page.locator("#runs tbody tr[data-id]")


def column(page, header, rows="tr[data-id]"):
    headers = page.locator("#runs thead th").all_inner_texts()
    at = [h.strip().rstrip(" ▲▼") for h in headers].index(header) + 1
    return page.locator(f"#runs tbody {rows} td:nth-child({at})").all_inner_texts()


def series_count(page, key):
    return page.evaluate("""(key) => {
        const node = document.querySelector(`.chart[data-key="${key}"] .plot`);
        const chart = node && echarts.getInstanceByDom(node);
        return chart ? chart.getOption().series.length : -1; }""", key)


def test_sort_select_filter(grid, page, shot):
    home, _project, url, trials = grid
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('#runs thead th[title]').length > 0")
    assert rows(page).count() == 7  # the 6 trials and their batch

    # sort by a metric, on the server: ascending, runs without it last
    page.locator("#runs thead th", has_text="loss").first.click()
    page.wait_for_selector("#runs thead th.sorted.asc")
    losses = column(page, "loss")
    values = [float(v) for v in losses if v]
    assert values == sorted(values) and losses[-1] == "" and len(values) == 6
    page.locator("#runs thead th.sorted").click()
    page.wait_for_selector("#runs thead th.sorted.desc")
    values = [float(v) for v in column(page, "loss") if v]
    assert values == sorted(values, reverse=True)

    # the hostile label is text in the table, and no script ran
    labels = column(page, "label")
    assert XSS in labels and dialogs == []

    # select 3 runs: 3 lines in the loss chart, named by their labels
    boxes = page.locator("#runs tbody tr[data-id] td.sel input")
    for i in range(3):
        boxes.nth(i).check()
    page.wait_for_function("""() => {
        if (typeof echarts === "undefined") return false;
        const node = document.querySelector('.chart[data-key="loss"] .plot');
        const chart = node && echarts.getInstanceByDom(node);
        return chart && chart.getOption().series.length === 3; }""")
    names = page.evaluate("""() => echarts.getInstanceByDom(
        document.querySelector('.chart[data-key="loss"] .plot')).getOption().series.map(s => s.name)""")
    assert sorted(names) == sorted(labels[:3])
    assert page.locator("#selection").inner_text() == "3 selected"
    # a second scalar as a small multiple; log y and smoothing redraw in place
    page.locator('#keys input[data-key="val_acc"]').check()
    page.wait_for_function("() => document.querySelectorAll('.chart[data-key]').length === 2")
    assert series_count(page, "val_acc") == 3
    page.locator("#logy").check()
    page.locator("#smooth").fill("0.6")
    page.locator("#sweep-section").scroll_into_view_if_needed()
    page.locator("#objective").select_option("loss")
    page.locator("#scatter-flag").select_option("lr")
    page.wait_for_function("""() => {
        if (typeof echarts === "undefined") return false;
        const chart = echarts.getInstanceByDom(document.getElementById('parallel'));
        return chart && chart.getOption().series[0].data.length === 3; }""")
    page.locator("#logy").uncheck()
    page.locator("#smooth").fill("0")
    shot(page, "view-runs", full_page=True)

    # click a point of the scatter: its run joins (or leaves) the selection
    point = page.evaluate("""() => {
        const node = document.getElementById('scatter');
        const chart = echarts.getInstanceByDom(node);
        const item = chart.getOption().series[0].data[0];
        const [x, y] = chart.convertToPixel({seriesIndex: 0}, item.value);
        const box = node.getBoundingClientRect();
        return {x: box.left + x, y: box.top + y, id: item.runId}; }""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function("() => document.getElementById('selection').textContent === '2 selected'")

    # type a filter: the table shrinks, the selection stays
    page.locator("#filter").fill("=opt = sgd")
    page.locator("#filter").press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#runs tbody tr[data-id]').length === 3")
    assert set(column(page, "opt")) == {"sgd"}
    assert "filter=%3Dopt+%3D+sgd" in page.url
    assert page.locator("#selection").inner_text() == "2 selected"
    shot(page, "view-filtered")

    # a group by in the columns box: one row per group, no boxes to tick
    page.locator("#filter").fill("")
    page.locator("#columns").fill("loss group by =opt")
    page.locator("#columns").press("Enter")
    page.wait_for_selector("#runs.grouped")
    groups = dict(zip(column(page, "opt", rows="tr"), column(page, "count(*)", rows="tr")))
    assert groups == {"adam": "3", "sgd": "3", "": "1"}  # the batch run has no opt
    assert page.locator("#runs td.sel").count() == 0
    assert page.locator("#count").inner_text() == "3 groups"


def test_sweep_of_a_batch(grid, page, shot):
    """A batch's trials: parallel coordinates of flags -> loss; clicking a line selects."""
    _home, _project, url, trials = grid
    page.goto(url)
    with page.expect_navigation(wait_until="load"):
        page.locator("#runs a.trials").click()
    page.wait_for_function("() => document.querySelectorAll('#runs tbody tr[data-id]').length === 6")
    assert "batch=" in page.url and "trials of batch" in page.locator("#filter-form").inner_text()
    page.wait_for_function("""() => {
        if (typeof echarts === "undefined") return false;
        const chart = echarts.getInstanceByDom(document.getElementById('parallel'));
        return chart && chart.getOption().series[0].data.length === 6; }""")
    axes = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('parallel'))
        .getOption().parallelAxis.map(a => a.name)""")
    assert axes == ["lr", "opt", "loss"]  # the flags that vary, then the objective
    # find a line between the first two axes and click it
    hit = page.evaluate("""() => {
        const node = document.getElementById('parallel');
        const chart = echarts.getInstanceByDom(node);
        const rect = chart.getModel().getComponent('parallel', 0).coordinateSystem.getRect();
        const x = Math.round(rect.x + rect.width / 4);
        const handler = chart.getZr().handler;
        const ys = [];
        for (let y = rect.y; y < rect.y + rect.height; y++) {
            if (handler.findHover(x, y).target) ys.push(y);
            else if (ys.length) break;
        }
        if (!ys.length) return null;
        const box = node.getBoundingClientRect();  // the middle of the first line found
        return {x: box.left + x, y: box.top + ys[Math.floor(ys.length / 2)]}; }""")
    assert hit is not None
    page.mouse.click(hit["x"], hit["y"])
    page.wait_for_function("() => document.getElementById('selection').textContent === '1 selected'")
    page.wait_for_function("""() => {
        if (typeof echarts === "undefined") return false;
        const node = document.querySelector('.chart[data-key="loss"] .plot');
        const chart = node && echarts.getInstanceByDom(node);
        return chart && chart.getOption().series.length === 1; }""")
    page.locator("#sweep-section").scroll_into_view_if_needed()
    shot(page, "view-sweep")


def test_run_page(grid, page, shot):
    home, _project, url, trials = grid
    run = trials[0]
    page.goto(url + f"run/{run.short_id}")
    page.wait_for_function("() => document.querySelectorAll('#summary tr').length > 1")
    assert page.locator("#run-status").inner_text() == "completed"
    flags = page.locator("#flags").inner_text()
    assert "lr" in flags and "opt" in flags
    assert "loss: " in page.locator("#output").inner_text()
    assert "sourcecode" in page.locator("#attrs").inner_text() or page.locator("#attrs tr").count() > 3
    page.wait_for_function("() => document.querySelectorAll('.chart[data-key]').length === 2")
    assert series_count(page, "loss") == 1
    shot(page, "view-run", full_page=True)


def test_xss_label_on_its_run_page(grid, page):
    _home, _project, url, trials = grid
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url + f"run/{trials[-1].id}")
    page.wait_for_function("() => document.querySelectorAll('#summary tr').length > 1")
    assert page.locator("#run-label").inner_text() == XSS
    assert page.locator("script").count() == 2 and dialogs == []


def test_a_running_run_grows_live(grid, page, shot):
    home, project, url, _trials = grid
    proc = rundb(home, project, "run", "train.py", "epochs=60", "delay=0.25", "-y", "-q",
                 wait=False)
    try:
        deadline = time.time() + 30
        running = []
        while not running and time.time() < deadline:
            running = [r for r in api.runs(home) if r.status == "running"]
            time.sleep(0.1)
        assert running, "the run did not start"
        run = running[0]
        page.goto(url + "?" + "status=running")
        page.wait_for_selector(f'#runs tr[data-id="{run.id}"]')
        page.locator(f'#runs tr[data-id="{run.id}"] td.sel input').check()
        page.wait_for_function("""() => {
            if (typeof echarts === "undefined") return false;
            const node = document.querySelector('.chart[data-key="loss"] .plot');
            const chart = node && echarts.getInstanceByDom(node);
            return chart && chart.getOption().series[0].data.length > 0; }""")
        count = """() => echarts.getInstanceByDom(document.querySelector(
            '.chart[data-key="loss"] .plot')).getOption().series[0].data.length"""
        first = page.evaluate(count)
        page.wait_for_function(f"() => ({count})() > {first}", timeout=15_000)  # polled, no reload
        assert page.locator(f'#runs tr[data-id="{run.id}"] td.sel input').is_checked()
        assert page.locator("#live").inner_text() == "live"
        shot(page, "view-live")

        page.goto(url + f"run/{run.id}")
        page.wait_for_selector("#run-status.st-running")
        page.wait_for_function("() => document.querySelectorAll('.chart[data-key]').length > 0")
        n = page.evaluate(count)
        page.wait_for_function(f"() => ({count})() > {n}", timeout=15_000)
        lines = page.locator("#output").inner_text().count("loss:")
        page.wait_for_function(
            f"() => document.getElementById('output').textContent.split('loss:').length - 1 > {lines}")
    finally:
        proc.terminate()
        proc.wait(30)
