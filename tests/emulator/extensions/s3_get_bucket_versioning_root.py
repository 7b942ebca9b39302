"""GetBucketVersioning's response root element, which moto 5.2.5 names wrongly.

AWS: GetBucketVersioning answers `<VersioningConfiguration>` with an optional `<Status>` (`Enabled`
or `Suspended`; absent when versioning was never enabled) and `<MfaDelete>`. moto 5.2.5's generic
serializer names the root `<GetBucketVersioningResponse>`: lenient clients (boto3) read it, but the
AWS SDK for Rust checks the root element and fails, so a bucket's versioning could not be read.
Remove this extension when moto answers with AWS's root element.
"""

from xml.sax.saxutils import escape

from moto.s3.responses import S3Response

WRITTEN_FOR = "moto 5.2.5"


def install() -> None:
    def get_bucket_versioning(self):
        status = self.backend.get_bucket_versioning(self.bucket_name)
        inner = f"<Status>{escape(status)}</Status>" if status else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"{inner}</VersioningConfiguration>"
        )
        return 200, {"Content-Type": "application/xml"}, body

    S3Response.get_bucket_versioning = get_bucket_versioning
