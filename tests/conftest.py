from helpers import synthetic_root  # noqa: F401  (fixture)
