"""A build backend that only writes metadata: this project exists to make pip refuse an old Python."""

import os

NAME = "kite_app_needs_python_3_11"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = f"{NAME}-1.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info))
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as handle:
        handle.write(f"Metadata-Version: 2.1\nName: {NAME}\nVersion: 1\nRequires-Python: >=3.11\n")
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("Kite App needs Python 3.11 or newer.")
