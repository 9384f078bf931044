"""A Jupyter server extension that sends kernel messages to the browser without delay.

jupyter_server leaves Nagle's algorithm on for the kernel websockets: a small message that
follows another one closely (the canvas's draw message right after the kernel's "busy"
status) waits for the browser's delayed acknowledgement, about 40 ms. That is most of a
brush stroke's latency. This extension switches ``TCP_NODELAY`` on for every kernel
websocket, as tornado recommends for interactive use. ``microlab demo`` and the browser
tests load it with ``--ServerApp.jpserver_extensions=microlab.widgets._nodelay=True``.

Examples
--------
>>> _jupyter_server_extension_points()
[{'module': 'microlab.widgets._nodelay'}]
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "microlab.widgets._nodelay"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    if getattr(KernelWebsocketHandler.open, "_microlab_nodelay", False):
        return
    original = KernelWebsocketHandler.open

    async def open(self, *args, **kwargs):
        self.set_nodelay(True)
        return await original(self, *args, **kwargs)

    open._microlab_nodelay = True
    KernelWebsocketHandler.open = open
    serverapp.log.info("microlab: kernel websockets send without delay (TCP_NODELAY)")
