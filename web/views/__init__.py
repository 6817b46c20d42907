"""The web pages, one module per page; the numbers come from ``web.dashboard``."""
