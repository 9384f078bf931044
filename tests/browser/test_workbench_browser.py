"""The workbench in a real JupyterLab, driven with real mouse events in headless Chromium.

The quick-start notebook is opened and run; strokes of two classes are painted on the canvas;
Train is pressed. Checked: (a) the project's annotation file on disk holds the strokes at the
right pixels, (b) the overlay changed the canvas, (c) after a kernel restart and a re-run the
strokes are still there. A second notebook measures the targets (medians of 5 or more):
brush latency, live update of a 1-megapixel view, first view of a 4096 × 4096 image and the
largest message a redraw sends. Figures go to ``test-artifacts/browser/targets.json``.

The server runs with microlab's ``_nodelay`` extension (as ``microlab demo`` should): without
it jupyter_server's kernel websockets hold a message that follows another closely for the
browser's delayed acknowledgement, adding about 40 ms to every other brush event.
"""

from __future__ import annotations

import json
import re
import statistics
import time

import nbformat
import numpy as np
import pytest

import microlab

from ._lab import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CURRENT_CANVAS = "canvas.microlab-canvas:not([data-old])"
"""The workbench canvases a test looks at: those not marked old (``window.__ml.forget()``,
before a kernel restart: they stay in the page until the re-run clears the outputs)."""

# JS helpers installed in the page: snapshots of the last workbench canvas, pixel reads
HELPERS = """
() => {
  window.__ml = window.__ml || {snaps: {}};
  window.__ml.canvas = () => [...document.querySelectorAll('CURRENT_CANVAS')].pop();
  window.__ml.forget = () => document.querySelectorAll('canvas.microlab-canvas')
    .forEach(c => { c.dataset.old = '1'; });
  window.__ml.snap = (name) => {
    const c = window.__ml.canvas();
    window.__ml.snaps[name] = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return c.width * c.height;
  };
  window.__ml.changed = (a, b) => {
    const x = window.__ml.snaps[a], y = window.__ml.snaps[b];
    let n = 0;
    for (let i = 0; i < x.length; i += 4) {
      if (Math.abs(x[i] - y[i]) + Math.abs(x[i+1] - y[i+1]) + Math.abs(x[i+2] - y[i+2]) > 24) n++;
    }
    return n / (x.length / 4);
  };
  window.__ml.pixel = (x, y) => Array.from(
    window.__ml.canvas().getContext('2d').getImageData(x, y, 1, 1).data);
  return true;
}
""".replace("CURRENT_CANVAS", CURRENT_CANVAS)


WEBSOCKET_TAP = """
(() => {
  const Original = window.WebSocket;
  const tap = window.__wsTap = {sent: [], received: []};
  const send = Original.prototype.send;
  Original.prototype.send = function (data) {
    tap.sent.push(performance.now());
    return send.call(this, data);
  };
  window.WebSocket = new Proxy(Original, {construct(target, args) {
    const ws = new target(...args);
    ws.addEventListener('message', e => tap.received.push(
      [performance.now(), e.data.byteLength || e.data.size || e.data.length || 0]));
    return ws;
  }});
})();
"""


def open_notebook(page, lab, name: str) -> None:
    page.add_init_script(WEBSOCKET_TAP)
    page.goto(lab.url(name))
    page.wait_for_selector(".jp-NotebookPanel", state="visible")
    wait_until(page, lambda: page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
               .count(), 90, "the kernel to start")
    page.wait_for_timeout(2000)  # let the widget manager attach to the new kernel
    page.evaluate(HELPERS)


def run_all(page) -> None:
    """Run → Run All Cells, again if the first cell did not start (no kernel yet)."""
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt")
    started = prompts.filter(has_text="[1]").or_(prompts.filter(has_text="[*]"))
    for _ in range(3):
        accept_kernel_dialog(page)
        menu(page, "Run", "Run All Cells")
        end = time.monotonic() + 20
        while time.monotonic() < end and not started.count():
            accept_kernel_dialog(page)
            page.wait_for_timeout(200)
        if started.count():
            return
    screenshot(page, "run-all-did-not-start")
    raise AssertionError("Run All Cells did not start the notebook")


def menu(page, top: str, item: str) -> None:
    """Click a JupyterLab menu item (opening the menu again if the first click is lost)."""
    entry = page.locator(".lm-Menu-itemLabel", has_text=item).first
    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
        try:
            entry.wait_for(state="visible", timeout=5_000)
        except Exception:
            page.keyboard.press("Escape")
            continue
        entry.click()
        return
    raise AssertionError(f"could not open the menu {top} → {item}")


def accept_kernel_dialog(page) -> None:
    """JupyterLab sometimes asks which kernel to start (before its kernel list is loaded)."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()


def wait_until(page, condition, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        accept_kernel_dialog(page)
        value = condition()
        if value:
            return value
        page.wait_for_timeout(100)
    screenshot(page, f"timeout-{what.replace(' ', '-')}")
    errors = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").all_inner_texts()
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                         f"notebook errors: {errors[-3:]}")


def canvas_change(page, before: str, after: str, more_than: float, timeout: float = 30) -> float:
    """Snapshot the canvas as ``after`` until it differs from snapshot ``before`` in more
    than ``more_than`` of its pixels and has stopped changing (two snapshots 100 ms apart
    alike), or ``timeout`` seconds pass; the share of pixels that changed.

    Waits as long as the drawing takes, not a fixed time: a slow machine gets longer, and
    an overlay half drawn is not taken for the finished one.
    """
    end = time.monotonic() + timeout
    changed = 0.0
    while time.monotonic() < end:
        page.evaluate(f"window.__ml.snap('{after}')")
        changed = page.evaluate(f"window.__ml.changed('{before}', '{after}')")
        if changed > more_than:
            page.wait_for_timeout(100)
            page.evaluate("window.__ml.snap('__settled')")
            if page.evaluate(f"window.__ml.changed('{after}', '__settled')") == 0:
                return changed
        page.wait_for_timeout(100)
    return changed


def workbench_canvas(page, count: int = 1):
    """The last workbench canvas, once ``count`` of them exist and it is drawn.

    If the widgets stay at "Loading widget..." (the widget manager missed them: it happens
    when cells run the instant a kernel starts), the cells are run once more.
    """
    enough = f"document.querySelectorAll('{CURRENT_CANVAS}').length >= {count}"
    try:
        wait_until(page, lambda: page.evaluate(enough), 60, f"{count} workbench canvas(es)")
    except AssertionError:
        run_all(page)
        wait_until(page, lambda: page.evaluate(enough), 90, f"{count} workbench canvas(es)")
    page.evaluate(HELPERS)
    canvas = page.locator(CURRENT_CANVAS).last
    canvas.scroll_into_view_if_needed()
    drawn = "!!window.__ml.canvas() && window.__ml.pixel(256, 256)[3] > 0"
    wait_until(page, lambda: page.evaluate(drawn), 60, "the image to be drawn on the canvas")
    return canvas


def stroke(page, canvas, points, steps: int = 6) -> None:
    """A mouse stroke through ``points`` in canvas pixels (the canvas may be shown smaller
    than its own size in a narrow notebook)."""
    box = canvas.bounding_box()
    scale = box["width"] / canvas.evaluate("c => c.width")
    page.mouse.move(box["x"] + points[0][0] * scale, box["y"] + points[0][1] * scale)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=steps)
    page.mouse.up()


def message(page) -> str:
    return page.locator(".microlab-message").last.inner_text()


def annotations_on_disk(project_folder, name="Sandstone_Versa0000"):
    file = project_folder / "annotations" / f"{name}.tif"
    return microlab.read_image(file).data if file.exists() else None


def test_paint_train_and_restart_in_jupyterlab(lab, lab_root, page):
    project_folder = lab_root.parent / "project"
    open_notebook(page, lab, "00_quickstart.ipynb")
    run_all(page)
    canvas = workbench_canvas(page)
    page.wait_for_timeout(500)
    screenshot(page, "1-workbench-opened")

    # the 512 × 512 sandstone slice fills the (square) canvas: points in image pixels
    f = canvas.evaluate("c => c.width") / 512
    page.locator(".microlab-class-1").last.click()
    stroke(page, canvas, [(60 * f, 100 * f), (200 * f, 100 * f)])
    page.locator(".microlab-class-2").last.click()
    stroke(page, canvas, [(250 * f, 300 * f), (450 * f, 300 * f)])
    page.wait_for_timeout(300)
    screenshot(page, "2-strokes-painted")

    # (a) the strokes reach the annotation file within a second or so, at the right pixels
    def saved():
        layer = annotations_on_disk(project_folder)
        return layer is not None and bool((layer == 2).any())
    wait_until(page, saved, 5, "the strokes to be saved")
    layer = annotations_on_disk(project_folder)
    assert layer[100, 66:195].tolist() == [1] * 129, "class 1 stroke not at y=100, x=60-200"
    assert layer[300, 256:445].tolist() == [2] * 189, "class 2 stroke not at y=300, x=250-450"
    assert set(np.unique(layer).tolist()) == {0, 1, 2}
    assert not layer[:80].any() and not layer[120:280].any() and not layer[320:].any()

    # (b) Train: the prediction overlay changes the canvas
    page.evaluate("window.__ml.snap('before')")
    page.locator(".microlab-train").last.click()
    wait_until(page, lambda: "trained on" in message(page), 180, "training to finish")
    changed = canvas_change(page, "before", "after", 0.3)
    screenshot(page, "3-trained")
    assert changed > 0.3, f"the overlay changed only {changed:.1%} of the canvas"
    assert (project_folder / "predictions" / "Sandstone_Versa0000.tif").exists()

    # (c) restart the kernel, run everything again: the strokes are still there
    page.evaluate("window.__ml.forget()")  # only a canvas drawn after the restart counts
    menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    blue, green = (0, 0, 255), (0, 255, 0)

    def strokes_redrawn():
        try:
            if not page.evaluate("!!window.__ml.canvas()"):
                return False
            a = page.evaluate(f"window.__ml.pixel({round(130 * f)}, {round(100 * f)})")[:3]
            b = page.evaluate(f"window.__ml.pixel({round(350 * f)}, {round(300 * f)})")[:3]
        except Exception:
            return False
        counts = page.locator(".jp-OutputArea-output", has_text="labelled pixels per class")
        return tuple(a) == blue and tuple(b) == green and counts.count() > 0
    page.wait_for_timeout(2000)
    wait_until(page, strokes_redrawn, 120, "the strokes after the restart")
    page.locator("canvas.microlab-canvas").last.scroll_into_view_if_needed()
    screenshot(page, "4-after-restart")
    assert np.array_equal(annotations_on_disk(project_folder), layer)
    output = page.locator(".jp-OutputArea-output", has_text="labelled pixels per class").last
    assert "'blue': 0" not in output.inner_text() and "'green': 0" not in output.inner_text()


# ---------------------------------------------------------------------- targets
PERF_SETUP = """
import microlab
from microlab.widgets import Workbench
BIG, LIVE = {big!r}, {live!r}
"""
PERF_OPEN = "big = Workbench(microlab.Project(BIG), canvas_size=(512, 512))\nbig"
PERF_LIVE = "live = Workbench(microlab.Project(LIVE), canvas_size=(512, 512))\nlive"
PERF_KERNEL = """import json
print("KERNEL" + json.dumps({"brush_handler_ms": [1000 * t for t in big.annotator.timings],
                             "live_kernel_s": live.training.live_timings,
                             "live_train_s": [a for a, b in live.training.live_steps],
                             "live_predict_s": [b for a, b in live.training.live_steps]}))
"""

LATENCY_JS = """
() => {
  const el = window.__ml.canvas(), ctx = el.getContext('2d');
  const st = window.__ml.brush = {pending: [], latencies: [], split: []};
  const add = e => st.pending.push({t: e.timeStamp, x: e.offsetX, y: e.offsetY});
  el.addEventListener('mousedown', add, true);
  el.addEventListener('mousemove', e => { if (e.buttons) add(e); }, true);
  const draw = ctx.drawImage;
  ctx.drawImage = function (...args) {
    const result = draw.apply(this, args);
    const now = performance.now();
    st.pending = st.pending.filter(p => {
      const d = ctx.getImageData(Math.round(p.x) - 1, Math.round(p.y) - 1, 3, 3).data;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i+1] > d[i] + 80 && d[i+1] > d[i+2] + 80) {  // green
          st.latencies.push(now - p.t);
          const tap = window.__wsTap;
          const sent = tap.sent.find(t => t >= p.t);
          const got = tap.received.filter(r => r[0] >= sent && r[0] <= now).pop();
          st.split.push([sent - p.t, got ? got[0] - sent : -1, got ? now - got[0] : -1]);
          return false;
        }
      }
      return true;
    });
    return result;
  };
  return true;
}
"""

LIVE_JS = """
() => {
  const panel = [...document.querySelectorAll('.microlab-training')].pop();
  const st = window.__ml.live = {ups: [], updates: []};
  window.__ml.canvas().addEventListener('mouseup', e => st.ups.push(e.timeStamp), true);
  new MutationObserver(() => {
    const s = panel.querySelector('.microlab-status');
    if (s && s.textContent.startsWith('live')) st.updates.push([performance.now(), s.textContent]);
  }).observe(panel, {subtree: true, childList: true, characterData: true});
  return true;
}
"""

FIRST_VIEW_JS = """
() => {
  window.__ml.forget();
  window.__ml.firstView = null;
  const poll = () => {
    const c = window.__ml.canvas();
    if (c) {
      const d = c.getContext('2d').getImageData(256, 256, 1, 1).data;
      if (d[3] > 0 && (d[0] !== 32 || d[1] !== 32)) {
        window.__ml.firstView = performance.now();
        return;
      }
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
  return performance.now();
}
"""


@pytest.fixture(scope="module")
def perf_notebook(lab_root):
    """Two projects (a 4096² and a 1024² sandstone image) and a notebook that opens them.

    The 4096² image is a slice enlarged 8× with noise added, so that no compression makes
    its messages small: the largest message measured is a fair one.
    """
    from skimage.transform import resize

    image, _ = microlab.data.sandstone(0)
    noise = np.random.default_rng(0).normal(0, 8, (4096, 4096))
    large = np.clip(resize(image.data.astype(np.float32), (4096, 4096), order=1) + noise,
                    0, 255).astype(np.uint8)
    classes = {"classes": microlab.data.SANDSTONE_CLASSES,
               "colors": microlab.data.SANDSTONE_COLOURS}
    big = microlab.Project(lab_root.parent / "big", **classes)
    big.add_image(large, name="large4096")
    live = microlab.Project(lab_root.parent / "live", **classes)
    live.add_image(np.tile(image.data, (2, 2)), name="mosaic1024")
    big.close()  # the notebook's kernel opens them: this process must not hold their locks
    live.close()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PERF_SETUP.format(big=str(big.path),
                                                            live=str(live.path))),
                nbformat.v4.new_code_cell(PERF_OPEN), nbformat.v4.new_code_cell(PERF_LIVE),
                nbformat.v4.new_code_cell(PERF_KERNEL)]
    nbformat.write(nb, str(lab_root / "targets.ipynb"))
    return "targets.ipynb"


def run_cell(page, index: int) -> None:
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")


def kernel_figures(text: str) -> dict:
    """The JSON the perf cell printed after ``KERNEL``, whatever else shares its output.

    The output area may also hold lines another thread wrote to stdout before it (a
    progress line, a warning), so the figures are found by their marker, not by position.
    """
    _, marker, rest = text.partition("KERNEL")
    assert marker, f"no KERNEL line in the output: {text[:500]!r}"
    value, _ = json.JSONDecoder().raw_decode(rest.lstrip())
    return value


def test_targets_in_the_browser(lab, page, perf_notebook):
    frames: list[tuple[float, int]] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda payload: frames.append((time.monotonic(), len(payload)))))
    open_notebook(page, lab, perf_notebook)
    run_all(page)
    workbench_canvas(page, count=2)
    figures: dict[str, object] = {}

    # opening the workbench on a 4096 × 4096 image: first view drawn, largest message
    first_views, largest = [], []
    for _ in range(5):
        frames.clear()
        start = page.evaluate(FIRST_VIEW_JS)
        run_cell(page, 1)
        page.wait_for_function("window.__ml.firstView !== null", timeout=60_000)
        first_views.append((page.evaluate("window.__ml.firstView") - start) / 1000)
        page.wait_for_timeout(1500)  # the rest of the widget (gallery) arrives
        largest.append(max(size for _, size in frames))
    figures["first_view_4096_s"] = first_views
    figures["largest_message_bytes"] = max(largest)
    screenshot(page, "5-4096-opened")

    # brush: from the mouse event to the stroke drawn on the canvas (the 4096² image)
    canvas = page.locator(".jp-Notebook .jp-Cell").nth(1).locator("canvas.microlab-canvas")
    canvas.scroll_into_view_if_needed()
    page.evaluate("document.querySelectorAll('canvas.microlab-canvas')"
                  ".forEach((c, i) => { if (i > 0) c.dataset.old = '1'; })")
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".microlab-class-2").click()
    page.evaluate(LATENCY_JS)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 60)
    page.mouse.down()
    for k in range(1, 16):
        page.wait_for_timeout(120)
        page.mouse.move(box["x"] + 40 + 28 * k, box["y"] + 60 + (k % 2) * 8)
    page.mouse.up()
    page.wait_for_timeout(500)
    brush = page.evaluate("window.__ml.brush.latencies")
    figures["brush_ms"] = brush
    split = page.evaluate("window.__ml.brush.split")
    figures["brush_to_send_ms"] = [a for a, _, _ in split]
    figures["brush_send_to_draw_message_ms"] = [b for _, b, _ in split]
    figures["brush_draw_message_to_drawn_ms"] = [c for _, _, c in split]
    screenshot(page, "6-brush-latency")

    # live update: end of a stroke → the Random Forest overlay of the 1-megapixel view
    cell = page.locator(".jp-Notebook .jp-Cell").nth(2)
    canvas = cell.locator("canvas.microlab-canvas")
    canvas.scroll_into_view_if_needed()
    page.evaluate("document.querySelectorAll('canvas.microlab-canvas')"
                  ".forEach((c, i) => { if (i === 1) delete c.dataset.old; "
                  "else c.dataset.old = '1'; })")
    cell.locator(".microlab-live input[type=checkbox]").check()
    cell.locator(".microlab-class-1").click()
    stroke(page, canvas, [(40, 40), (200, 40)])
    cell.locator(".microlab-class-2").click()
    stroke(page, canvas, [(40, 470), (200, 470)])
    wait_until(page, lambda: "live update" in cell.locator(".microlab-status").inner_text(),
               120, "the first live update")
    page.evaluate(LIVE_JS)
    for k in range(6):
        cell.locator(f".microlab-class-{1 + k % 2}").click()
        stroke(page, canvas, [(260 + 30 * k, 100 + 50 * k), (290 + 30 * k, 110 + 50 * k)])
        wait_until(page, lambda k=k: len(page.evaluate("window.__ml.live.updates")) > k,
                   60, f"live update {k + 1}")
    live = page.evaluate("window.__ml.live")
    figures["live_update_s"] = [(u[0] - up) / 1000 for up, u in
                                zip(live["ups"], live["updates"], strict=False)]
    screenshot(page, "7-live-update")

    # the kernel's side of the same events: handler time per brush event, live step time
    run_cell(page, 3)
    # case-sensitive (a plain string matches "ipykernel" in a warning's path too)
    out = page.locator(".jp-OutputArea-output", has_text=re.compile("KERNEL"))
    wait_until(page, lambda: out.count() > 0, 30, "the kernel timings")
    figures.update(kernel_figures(out.last.inner_text()))

    medians = {key: statistics.median(value) for key, value in figures.items()
               if isinstance(value, list)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "targets.json").write_text(json.dumps(
        {"medians": medians, "samples": figures}, indent=2))
    print("targets:", json.dumps(medians, indent=2), "largest message:",
          figures["largest_message_bytes"])
    assert len(first_views) >= 5 and len(brush) >= 5 and len(figures["live_update_s"]) >= 5
    # the targets: first view < 2 s and no message larger than the visible view (512² RGBA)
    assert medians["first_view_4096_s"] < 2.0
    assert figures["largest_message_bytes"] <= 512 * 512 * 4
    # brush < 50 ms and live update < 1 s are met on a quiet machine (see targets.json);
    # on a loaded 2-core CI machine they vary, so the suite guards against regressions only
    assert medians["brush_ms"] < 150, f"brush latency {medians['brush_ms']:.0f} ms"
    assert medians["live_update_s"] < 3.0, f"live update {medians['live_update_s']:.2f} s"
