"""Stand-in for Google Colab's ``google.colab`` module, for the Colab simulation of
``scripts/test.sh`` (stage ``colab``).

The notebooks only test whether ``google.colab`` is imported, so the module needs no content;
``SIMULATED`` lets a reader of ``sys.modules`` tell it from the real one. ``google`` stays a
namespace package (no ``__init__.py``), so other ``google.*`` packages still import.
"""

SIMULATED = True
