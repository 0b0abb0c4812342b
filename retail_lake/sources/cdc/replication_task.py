"""Create the operational store's DMS replication task through the DMS API, with the same endpoint settings and
table mappings the CDK stack deploys (`stacks/sources/database_replication.py`): for an account where the stage
leaves DMS out of the stacks (dev), such as the local twin, where the source database runs on 127.0.0.1. The target
is the restricted CDC landing bucket, its key and its writer role (the Batch stack's outputs `CdcLandingBucketName`,
`CdcLandingKeyArn`, `CdcWriterRoleArn`): the change rows hold personal data in clear text.

    batch = twin.outputs["RetailLake-dev-Batch"]
    arn = create_replication_task(twin.client("dms"), twin.client("secretsmanager"), **landing_target(batch),
                                  connection=pg.connection_info(), name="retail-lake-dev")
    dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
"""

from __future__ import annotations

import json
from typing import Any

from retail_lake.sources.cdc import layout


def landing_target(batch_outputs: dict[str, str]) -> dict[str, str]:
    """The target keyword arguments of `create_replication_task` from the Batch stack's outputs."""
    return {"target_bucket": batch_outputs["CdcLandingBucketName"], "target_key_arn": batch_outputs["CdcLandingKeyArn"],
            "role_arn": batch_outputs["CdcWriterRoleArn"]}


def create_replication_task(dms: Any, secretsmanager: Any, *, target_bucket: str, target_key_arn: str, role_arn: str,
                            connection: dict[str, Any], name: str) -> str:
    """Store `connection` (host, port, dbname, username, password) in a secret, create the replication instance,
    the PostgreSQL source and S3 target endpoints and the full-load-and-CDC task; return the task's ARN."""
    secret_arn = secretsmanager.create_secret(Name=f"{name}/operational-db", SecretString=json.dumps(connection),
                                              Description="DMS source credentials of the operational store")["ARN"]
    instance = dms.create_replication_instance(ReplicationInstanceIdentifier=f"{name}-replication",
                                               ReplicationInstanceClass="dms.t3.medium", PubliclyAccessible=False,
                                               AllocatedStorage=50)["ReplicationInstance"]["ReplicationInstanceArn"]
    source = dms.create_endpoint(
        EndpointIdentifier=f"{name}-operational-db", EndpointType="source", EngineName="postgres",
        DatabaseName=str(connection["dbname"]), SslMode="none",
        ExtraConnectionAttributes="PluginName=pgoutput;PublicationName=retail_lake_cdc",
        PostgreSQLSettings={"SecretsManagerSecretId": secret_arn, "SecretsManagerAccessRoleArn": role_arn,
                            "PluginName": "pgoutput"},
    )["Endpoint"]["EndpointArn"]
    target = dms.create_endpoint(
        EndpointIdentifier=f"{name}-cdc-landing", EndpointType="target", EngineName="s3",
        S3Settings=layout.s3_target_settings(target_bucket, target_key_arn, role_arn),
    )["Endpoint"]["EndpointArn"]
    return dms.create_replication_task(
        ReplicationTaskIdentifier=f"{name}-operational-db-cdc", SourceEndpointArn=source, TargetEndpointArn=target,
        ReplicationInstanceArn=instance, MigrationType="full-load-and-cdc",
        TableMappings=json.dumps(layout.table_mappings()),
    )["ReplicationTask"]["ReplicationTaskArn"]

