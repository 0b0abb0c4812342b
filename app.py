#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c stage=dev|prod` (default dev). The stacks are built in stacks.app_builder."""

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from stacks.app_builder import build_app  # noqa: E402  (jsii reads the variable above at import)

build_app().synth()
