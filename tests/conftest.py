pytest_plugins = ["pytester"]

# fixtures and the hook that skips tests marked real_data without $SREWIRE_DATA
from helpers import cifar10_root, pytest_runtest_setup, synthetic_root  # noqa: E402,F401
