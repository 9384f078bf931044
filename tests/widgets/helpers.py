"""What the widget tests share: mouse strokes, waiting, painting two classes, and a record
of what the annotator ships to the browser."""

import time

import microlab


def wait_for(condition, timeout=10.0):
    """Poll ``condition()`` until it is true or ``timeout`` seconds have passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def stroke(annotator, points):
    """A mouse stroke through canvas points (x, y)."""
    annotator.mouse_down(*points[0])
    for x, y in points[1:]:
        annotator.mouse_move(x, y)
    annotator.mouse_up(*points[-1])


def paint_two_classes(project, index=0):
    """Scribbles of every sandstone class on image ``index`` (a sandstone slice)."""
    truth = microlab.data.sandstone(0)[1]
    project.set_annotation(index, microlab.labels.scribbles_from_truth(truth, 0.005))


class Shipped:
    """Records what the annotator ships: per layer, the arrays put on the canvas, and the
    byte size of every message the canvas manager sends."""

    def __init__(self, annotator, monkeypatch):
        from ipycanvas.canvas import _CANVAS_MANAGER

        self.puts = []
        self.messages = []
        original_put = annotator._put

        def put(layer, array, rect):
            self.puts.append((layer, array.copy(), rect))
            original_put(layer, array, rect)

        def send(content, buffers=None):
            self.messages.append(sum(memoryview(b).nbytes for b in buffers or []))

        monkeypatch.setattr(annotator, "_put", put)
        monkeypatch.setattr(_CANVAS_MANAGER, "send", send)

    def layer(self, layer):
        return [array for k, array, _ in self.puts if k == layer]

    def clear(self):
        self.puts.clear()
        self.messages.clear()
