"""Learned restoration models (super-resolution, faces, learned fill) loaded through spandrel.

``model_file`` loads and identifies a model file safely, ``tiling`` runs a model over a big picture
in bounded memory, and ``upscale``, ``faces`` and ``fill`` are the three uses. ``jobs`` makes each a
kind of job of the one job runner. Nothing here imports Qt.
"""
