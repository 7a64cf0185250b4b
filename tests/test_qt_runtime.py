"""The Qt binding Kiln runs on must not corrupt the interpreter.

PySide6 6.12.0 on Python 3.11 drops one reference to ``None`` on every call of a method that
returns nothing (``setObjectName``, ``update``…): the editor loses about five per mouse move
while painting, and once ``None``'s count reaches zero Python aborts ("none_dealloc") — a crash
after a minute or two of brush work. pyproject.toml keeps that version out; this test says so
if it ever comes back (on Python 3.12 and later ``None`` is immortal and the test passes).
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_qt_calls_keep_the_references_to_none():
    thing = QObject()
    thing.setObjectName("warm-up")
    before = sys.getrefcount(None)
    for _ in range(200):
        thing.setObjectName("kiln")
    lost = before - sys.getrefcount(None)
    assert lost < 50, f"{lost} references to None lost over 200 Qt calls: this PySide6 build would crash Kiln"
