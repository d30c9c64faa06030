"""``cdktf synth`` entry point (see cdktf.json): only wiring; the app lives in mapper_infra."""

from pathlib import Path

from mapper_infra.app import build_app
from mapper_infra.config import load_environments

build_app(load_environments(Path(__file__).parent / "environments")).synth()
