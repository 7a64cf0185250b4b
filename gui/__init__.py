"""Kiln's Qt front end. Never imports torch or diffusers at module level: the worker loads them."""
