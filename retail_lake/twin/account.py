"""The local account: one endpoint (moto in-process, or an external one such as LocalStack) plus the process
environment that points every boto3 client at it.

    with Twin() as twin:
        twin.deploy("cdk.out")
        twin.outputs["RetailLake-dev-Storage"]["RawBucketName"]
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlparse

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from retail_lake.twin.deployer import Deployment
    from retail_lake.twin.executors import Executor
    from retail_lake.twin.executors.kinesis_poller import DrainReport

ENDPOINT_ENV = "RETAIL_LAKE_ENDPOINT_URL"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
# moto's switches the twin needs; the Step Functions interpreter is on so later executors can drive it.
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "batch": {"use_docker": False},
}

log = logging.getLogger(__name__)


class NotEmbeddedError(RuntimeError):
    """An in-process executor was asked for on a twin whose endpoint is external (LocalStack), which runs that
    compute itself."""


class SettleTimeout(TimeoutError):
    """The external endpoint's event-source mappings did not produce the expected effects in time."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Twin:
    """An emulated AWS account for local runs and integration tests.

    Without an endpoint (argument or `RETAIL_LAKE_ENDPOINT_URL`), moto's threaded server starts in this process on a
    free 127.0.0.1 port; with one, nothing is started and everything talks to that endpoint (e.g. LocalStack).
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        work_dir: str | Path | None = None,
    ) -> None:
        self.external_endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        self.region = region
        self.account_id = account_id
        self._work_dir_arg = Path(work_dir) if work_dir else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.work_dir: Path | None = None
        self.endpoint_url: str | None = None
        self.port: int | None = None
        self._server: Any = None
        self._saved_werkzeug_level = logging.NOTSET
        self._saved_env: dict[str, str | None] = {}
        self._executors: dict[str, Executor] = {}
        self._lock = threading.RLock()
        self._clients: dict[tuple[str, str], Any] = {}
        self.deployments: list[Deployment] = []
        self.deferred_actions: list[Any] = []  # filled by provisioners during a stack create, run after it

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_embedded(self) -> bool:
        """True when moto runs in this process (the twin may then patch and inspect moto's backends)."""
        return self.external_endpoint is None

    def start(self) -> Twin:
        if self._tmp is None and self._work_dir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="retail-lake-twin-")
        self.work_dir = self._work_dir_arg or Path(self._tmp.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_PROFILE": None,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self.is_embedded:
            from moto.moto_server.threaded_moto_server import ThreadedMotoServer

            env["MOTO_ACCOUNT_ID"] = self.account_id
            self._apply_env(env)  # before moto reads MOTO_ACCOUNT_ID in any request
            werkzeug_log = logging.getLogger("werkzeug")  # one access-log line per request otherwise
            self._saved_werkzeug_level = werkzeug_log.level
            werkzeug_log.setLevel(logging.WARNING)
            self.port = free_port()
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            # moto validates template URLs by host name: `localhost`, not 127.0.0.1.
            self.endpoint_url = f"http://localhost:{self.port}"
            self._apply_env({"AWS_ENDPOINT_URL": self.endpoint_url})
            # moto's backends are module state of this process: a new twin is a new, empty account
            self._moto_api("reset", {})
            self._moto_api("config", MOTO_CONFIG)
            from retail_lake.twin import moto_patches
            from retail_lake.twin.provisioning.moto_hook import install_provisioners

            moto_patches.install(self.account_id)
            install_provisioners(self)
            from retail_lake.twin.executors.lambda_runtime import LambdaRuntime

            self.executor(LambdaRuntime)  # moto's own Invoke runs deployed handlers from now on
        else:
            self.endpoint_url = self.external_endpoint
            self.port = urlparse(self.endpoint_url).port
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
            self._apply_env(env)
        log.info("twin endpoint %s (embedded=%s)", self.endpoint_url, self.is_embedded)
        return self

    def stop(self) -> None:
        for name in list(reversed(self._executors)):
            try:
                self._executors.pop(name).close()
            except Exception:  # keep shutting down; a failing executor must not leave the server running
                log.exception("closing executor %s failed", name)
        if self._server is not None:
            from retail_lake.twin import moto_patches
            from retail_lake.twin.provisioning.moto_hook import uninstall_provisioners

            uninstall_provisioners()
            moto_patches.uninstall()
            self._moto_api("reset", {})  # free the account's state (objects, records) with the twin
            self._server.stop()
            inner = getattr(self._server, "_server", None)
            if inner is not None:
                inner.server_close()  # ThreadedMotoServer.stop() leaves the listening socket open
            self._server = None
            logging.getLogger("werkzeug").setLevel(self._saved_werkzeug_level)
        self._clients.clear()
        self._restore_env()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _apply_env(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            if key not in self._saved_env:
                self._saved_env[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _moto_api(self, path: str, body: dict[str, Any]) -> None:
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    # ------------------------------------------------------------------ clients
    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client on the twin's endpoint. Clients without extra arguments are cached (boto3 clients are
        thread-safe; creating one costs tens of milliseconds)."""
        region = kwargs.pop("region_name", self.region)
        key = (service, region)
        if not kwargs and key in self._clients:
            return self._clients[key]
        with self._lock:
            session = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                aws_session_token="testing",
                region_name=region,
            )
            config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=120)
            client = session.client(service, endpoint_url=self.endpoint_url, config=config, **kwargs)
            if not kwargs:
                self._clients[key] = client
        return client

    # ------------------------------------------------------------------ deployment
    def deploy(self, assembly_dir: str | Path, stacks: list[str] | None = None) -> Deployment:
        """Deploy a cloud assembly (`cdk.out`); see `Deployer`."""
        from retail_lake.twin.deployer import Deployer

        deployment = Deployer(self).deploy(assembly_dir, stacks=stacks)
        self.deployments.append(deployment)
        return deployment

    @property
    def outputs(self) -> dict[str, dict[str, str]]:
        """Stack outputs of everything deployed so far: `twin.outputs[stack_name][output_key]`."""
        merged: dict[str, dict[str, str]] = {}
        for deployment in self.deployments:
            for name, stack in deployment.stacks.items():
                merged[name] = stack.outputs
        return merged

    def stack(self, stack_name: str):
        for deployment in reversed(self.deployments):
            if stack_name in deployment.stacks:
                return deployment.stacks[stack_name]
        raise KeyError(f"stack {stack_name!r} is not deployed on this twin; deployed: {sorted(self.outputs)}")

    def resource(self, stack_name: str, logical_id: str) -> str:
        """The physical id of a deployed resource, by stack and logical id."""
        return self.stack(stack_name).physical_id(logical_id)

    # ------------------------------------------------------------------ executors
    def executor(self, kind: type[Executor] | str, **options: Any) -> Executor:
        """The attached executor of that kind, attaching a new one (with `options`) on first use."""
        from retail_lake.twin.executors import EXECUTORS

        cls = EXECUTORS[kind] if isinstance(kind, str) else kind
        with self._lock:
            if cls.name not in self._executors:
                executor = cls(**options)
                executor.attach(self)
                self._executors[cls.name] = executor
            return self._executors[cls.name]

    @property
    def lambda_runtime(self):
        from retail_lake.twin.executors.lambda_runtime import LambdaRuntime

        return self.executor(LambdaRuntime)

    @property
    def kinesis_poller(self):
        """The in-process Kinesis event-source poller: embedded twin only. An external endpoint (LocalStack) runs
        the event-source mappings itself, and draining here too would process every record twice: use
        `settle`."""
        if not self.is_embedded:
            raise NotEmbeddedError(
                f"twin.kinesis_poller runs only on the embedded twin: the endpoint {self.endpoint_url or self.external_endpoint} "
                "runs the Kinesis event-source mappings itself, and draining in-process as well would deliver every "
                "record twice; wait for the effects with twin.settle(done, timeout) instead"
            )
        from retail_lake.twin.executors.kinesis_poller import KinesisEventSourcePoller

        return self.executor(KinesisEventSourcePoller)

    def settle(self, done: Callable[[], bool], timeout: float = 60.0, *, interval: float = 1.0) -> DrainReport | None:
        """Let the event-source mappings deliver what was put on the streams. On the embedded twin the in-process
        poller drains every mapping (`done` is not consulted) and its `DrainReport` is returned; on an external
        endpoint, which runs the mappings itself, `done()` is polled every `interval` seconds until it is true
        (None is returned) or `timeout` passes (`SettleTimeout`)."""
        if self.is_embedded:
            return self.kinesis_poller.drain(timeout=timeout)
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise SettleTimeout(
                    f"the event-source mappings of {self.endpoint_url} did not deliver within {timeout:g}s "
                    "(done() stayed false)"
                )
            time.sleep(interval)
        return None


LocalAccount = Twin
