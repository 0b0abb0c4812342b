"""The embedded local twin of the AWS account: moto in-process (or an external endpoint such as LocalStack),
a deployer for cloud assemblies, and executors for the compute moto does not run.

    from retail_lake.twin import Twin

    with Twin() as twin:                          # moto on 127.0.0.1:<free port>, AWS_ENDPOINT_URL set
        twin.deploy("cdk.out")                    # bootstrap, assets, stacks, provisioners
        raw = twin.outputs["RetailLake-dev-Storage"]["RawBucketName"]
        ...                                       # put records on the stream
        report = twin.kinesis_poller.drain()      # deliver them to the deployed Lambda handlers
"""

from retail_lake.twin.account import ENDPOINT_ENV, LocalAccount, NotEmbeddedError, SettleTimeout, Twin
from retail_lake.twin.assembly import AssemblyError, CloudAssembly, StaleAssemblyError, stale_lambda_packages
from retail_lake.twin.deployer import DeployedStack, Deployer, DeployError, Deployment

__all__ = [
    "ENDPOINT_ENV",
    "AssemblyError",
    "CloudAssembly",
    "DeployError",
    "DeployedStack",
    "Deployer",
    "Deployment",
    "LocalAccount",
    "NotEmbeddedError",
    "SettleTimeout",
    "StaleAssemblyError",
    "Twin",
    "stale_lambda_packages",
]
