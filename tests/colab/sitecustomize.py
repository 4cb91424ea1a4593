"""Imported by Python at start-up when this folder is on PYTHONPATH: it imports the stand-in
``google.colab`` so that a kernel starts as on Colab, where that module is always loaded
(the Colab simulation of ``scripts/test.sh``, stage ``colab``)."""

import google.colab  # noqa: F401
