"""The pipe protocol between the worker and its render processes (documents.renderer.serve_renders):
one frame is 4 bytes of length, big-endian, then a pickle. Request: (doc_type, context); answer:
("ok", pdf bytes), ("error", "ExceptionType: message") for the document's fault or ("fault", ...)
for the machine's (documents/errors.py). A process whose templates cannot be loaded says
("broken", "ExceptionType: message") instead of ("ready", pid), and ends. No WeasyPrint here, so
the worker can speak it without importing the renderer."""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

_FRAME = struct.Struct(">I")


def write_frame(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    """The next frame's value; EOFError when the other side has gone."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe mid-frame")
    return pickle.loads(data)
