"""Tags given to CreateBucket, which moto 5.2.5 ignores.

AWS: CreateBucket takes `<CreateBucketConfiguration><Tags><Tag><Key/><Value/></Tag>...</Tags>` and
creates the bucket with those tags in the same call, so that a bucket never exists untagged. moto
5.2.5 reads only the location constraint and drops the tags. This extension applies them when the
create succeeds (or finds the caller's own bucket in us-east-1, where CreateBucket is idempotent and
AWS leaves the existing tags alone: then they are not touched). Remove it when moto honours them.
"""

import xmltodict

from moto.s3.responses import S3Response

WRITTEN_FOR = "moto 5.2.5"


def _tags_in(body) -> dict:
    if not body:
        return {}
    try:
        configuration = xmltodict.parse(body).get("CreateBucketConfiguration") or {}
    except Exception:  # noqa: BLE001 - moto reports malformed bodies itself
        return {}
    tags = (configuration.get("Tags") or {}).get("Tag") or []
    if isinstance(tags, dict):
        tags = [tags]
    return {tag["Key"]: tag.get("Value") or "" for tag in tags}


def install() -> None:
    original = S3Response._bucket_response_put

    def _bucket_response_put(self, request, bucket_name, querystring):
        creating = not querystring
        existed = creating and bucket_name in self.backend.buckets
        response = original(self, request, bucket_name, querystring)
        if creating and not existed:
            tags = _tags_in(self.body)
            if tags:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return response

    S3Response._bucket_response_put = _bucket_response_put
