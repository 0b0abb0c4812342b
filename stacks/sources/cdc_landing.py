"""The restricted CDC landing bucket: where DMS writes the operational store's change files, personal data in clear
text, and where only the CDC merge job reads them (and pseudonymizes the personal columns before curated).

Nobody else can read it, whatever their IAM policies say:
- its own KMS key (rotated), whose key policy lets the account administer the key but use it only to the DMS
  writer role (encrypt) and the merge job's role (decrypt), both through S3 only;
- a bucket policy that denies reading objects to every principal but the merge job's role and writing them to every
  principal but the DMS writer role, on top of TLS only and all public access blocked;
- objects expire a few days after they land (`sources.cdc_landing_expiration_days`): long enough for the merge to
  have run, short enough that clear-text change rows do not accumulate; unversioned, so an expired or deleted object
  leaves no old version behind;
- no Glue table points at it: neither Athena nor anything reading the catalog sees it.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from retail_lake.sources.cdc import layout
from stacks.nag import acknowledge, objects_wildcard_finding

# KMS actions that administer a key without using it for data.
KEY_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
]
OBJECT_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectTagging",
                       "s3:RestoreObject"]
OBJECT_WRITE_ACTIONS = ["s3:PutObject", "s3:PutObjectTagging", "s3:ReplicateObject"]


class CdcLanding(Construct):
    """`bucket`, `key`, `writer_role` (assumed by DMS for its S3 target endpoint) and `prefix` (the DMS folder);
    `allow_reader(role)` lets the merge job's role, and only it, read the change files."""

    bucket: s3.Bucket
    key: kms.Key
    writer_role: iam.Role
    prefix: str

    def __init__(self, scope: Construct, construct_id: str, *, access_logs_bucket: s3.IBucket,
                 expiration_days: int, remove_data_on_destroy: bool) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        removal = RemovalPolicy.DESTROY if remove_data_on_destroy else RemovalPolicy.RETAIN
        self.prefix = f"{layout.BUCKET_FOLDER}/"
        self._s3_service = f"s3.{stack.region}.amazonaws.com"
        self.key = kms.Key(
            self, "Key", description="Encrypts the CDC landing bucket (clear-text change files of the operational "
                                     "store); usable only by DMS's writer role and the CDC merge job",
            enable_key_rotation=True, removal_policy=removal,
            pending_window=Duration.days(7) if remove_data_on_destroy else Duration.days(30),
            policy=iam.PolicyDocument(statements=[iam.PolicyStatement(
                sid="AccountAdministersTheKeyWithoutUsingIt", principals=[iam.AccountRootPrincipal()],
                actions=KEY_ADMIN_ACTIONS, resources=["*"])]),
        )
        self.bucket = s3.Bucket(
            self, "Bucket",
            encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, minimum_tls_version=1.2,
            versioned=False, removal_policy=removal, auto_delete_objects=remove_data_on_destroy,
            server_access_logs_bucket=access_logs_bucket, server_access_logs_prefix="cdc-landing/",
            lifecycle_rules=[s3.LifecycleRule(
                id="expire-change-files", expiration=Duration.days(expiration_days),
                abort_incomplete_multipart_upload_after=Duration.days(1))],
        )
        self.writer_role = iam.Role(
            self, "WriterRole", assumed_by=iam.ServicePrincipal("dms.amazonaws.com"),
            description="DMS S3 target endpoint: writes the operational store's change files to the CDC landing bucket")
        self.writer_role.add_to_policy(iam.PolicyStatement(
            sid="WriteChangeFiles", actions=["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"],
            resources=[self.bucket.arn_for_objects(f"{self.prefix}*")]))
        self.writer_role.add_to_policy(iam.PolicyStatement(
            sid="ListTargetFolder", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.prefix}*"]}}))
        self.writer_role.add_to_policy(iam.PolicyStatement(
            sid="EncryptChangeFiles", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self.key.key_arn]))
        self._use_key("DmsWriterEncryptsThroughS3", self.writer_role, ["kms:GenerateDataKey", "kms:Decrypt"])
        acknowledge(self.writer_role, objects_wildcard_finding(self.writer_role, self.bucket).replace(
            "/*]", f"/{self.prefix}*]"),
            "DMS names the change files itself (schema/table/LOAD and timestamped CDC files); the role writes only "
            "under the dms/ folder of the CDC landing bucket.")
        self._readers: list[iam.IRole] = []
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyTheDmsWriterRoleWritesChangeFiles", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=OBJECT_WRITE_ACTIONS, resources=[self.bucket.arn_for_objects("*")],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": self.writer_role.role_arn}}))

    def allow_reader(self, role: iam.Role) -> None:
        """Let `role` (the CDC merge job's) list and read the change files and decrypt them through S3; every other
        principal stays denied."""
        if self._readers:
            raise ValueError("the CDC landing bucket has one reader, the CDC merge job; a second reader would widen "
                             "who can read clear-text personal data")
        self._readers.append(role)
        role.add_to_policy(iam.PolicyStatement(
            sid="DecryptChangeFiles", actions=["kms:Decrypt"], resources=[self.key.key_arn]))
        self._use_key("MergeJobDecryptsThroughS3", role, ["kms:Decrypt"])
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyTheMergeJobReadsChangeFiles", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=OBJECT_READ_ACTIONS, resources=[self.bucket.arn_for_objects("*")],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": role.role_arn}}))

    def _use_key(self, sid: str, role: iam.IRole, actions: list[str]) -> None:
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid=sid, principals=[iam.ArnPrincipal(role.role_arn)], actions=actions, resources=["*"],
            conditions={"StringEquals": {"kms:ViaService": self._s3_service}}))
