"""The route table, with names, in the order they must be matched."""

from __future__ import annotations

from starlette.routing import Route

from cargohold.http.oci import base, blobs, listings, manifests, uploads

NAME = "{name:path}"

routes = [
    Route("/v2/", base.version_check, methods=["GET"], name="base"),
    Route("/v2/_catalog", listings.catalog, methods=["GET"], name="catalog"),
    Route(f"/v2/{NAME}/tags/list", listings.list_tags, methods=["GET"], name="tags"),
    Route(
        f"/v2/{NAME}/manifests/{{reference}}",
        manifests.get_manifest,
        methods=["GET", "HEAD"],
        name="manifest",
    ),
    Route(
        f"/v2/{NAME}/manifests/{{reference}}",
        manifests.put_manifest,
        methods=["PUT"],
        name="manifest-put",
    ),
    Route(
        f"/v2/{NAME}/manifests/{{reference}}",
        manifests.delete_manifest,
        methods=["DELETE"],
        name="manifest-delete",
    ),
    Route(f"/v2/{NAME}/blobs/uploads/", uploads.start_upload, methods=["POST"], name="upload"),
    Route(
        f"/v2/{NAME}/blobs/uploads/{{upload_id}}",
        uploads.patch_upload,
        methods=["PATCH"],
        name="upload-chunk",
    ),
    Route(
        f"/v2/{NAME}/blobs/uploads/{{upload_id}}",
        uploads.finish_upload,
        methods=["PUT"],
        name="upload-complete",
    ),
    Route(
        f"/v2/{NAME}/blobs/uploads/{{upload_id}}",
        uploads.upload_status,
        methods=["GET"],
        name="upload-status",
    ),
    Route(
        f"/v2/{NAME}/blobs/uploads/{{upload_id}}",
        uploads.cancel_upload,
        methods=["DELETE"],
        name="upload-cancel",
    ),
    Route(f"/v2/{NAME}/blobs/{{digest}}", blobs.get_blob, methods=["GET", "HEAD"], name="blob"),
    Route(
        f"/v2/{NAME}/blobs/{{digest}}", blobs.delete_blob, methods=["DELETE"], name="blob-delete"
    ),
    Route(
        f"/v2/{NAME}/referrers/{{digest}}", listings.referrers, methods=["GET"], name="referrers"
    ),
]
