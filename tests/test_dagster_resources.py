"""The per-provider resources on their own: Definitions written by hand, credentials and the
catalog URL as ``EnvVar``, an asset of the user's that lists and registers through them."""

import json

from dagster import (
    AssetExecutionContext,
    Definitions,
    EnvVar,
    MaterializeResult,
    asset,
)
from dagster_azure.blob import AzureBlobStorageSASTokenCredential

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.resources import (
    AzureIntegrationResource,
    CatalogResource,
    S3IntegrationResource,
)
from tests.media import image_bytes

S3_SECRET = "testing-Secret-Key-99"


def test_resources_bound_by_hand_with_env_vars(tmp_path, monkeypatch, s3_bucket, azure_container):
    s3_bucket.put("raw/a.png", image_bytes(5, 4, "PNG"), "image/png")
    azure_container.put("raw/b.png", image_bytes(3, 2, "PNG"), "image/png")
    sas = azure_container.sas("rl")
    monkeypatch.setenv("T_AWS_KEY_ID", "testing")
    monkeypatch.setenv("T_AWS_SECRET", S3_SECRET)
    monkeypatch.setenv("T_SAS", sas)
    monkeypatch.setenv("T_CATALOG", f"sqlite:///{tmp_path / 'catalog.db'}")
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"url": f"s3://{s3_bucket.name}/raw/a.png"}]), "utf-8")

    @asset
    def photos(
        context: AssetExecutionContext,
        catalog: CatalogResource,
        acme: S3IntegrationResource,
        hospital: AzureIntegrationResource,
    ) -> MaterializeResult:
        listed = [o.key for o in acme.get_storage().list("raw/")]
        scans = [o.key for o in hospital.get_storage().list("raw/")]
        job = catalog.register_manifest(str(manifest), "photos", acme)
        url = hospital.get_storage().canonical_url("raw/b.png")
        scan_manifest = tmp_path / "scans.json"
        scan_manifest.write_text(json.dumps([{"url": url}]), "utf-8")
        scan_job = catalog.register_manifest(str(scan_manifest), "scans", hospital)
        context.log.info("listed %s and %s", listed, scans)
        return MaterializeResult(
            metadata={"listed": len(listed) + len(scans), "registered": job.registered}
            | {"scans": scan_job.registered, "status": job.status.value}
        )

    defs = Definitions(
        assets=[photos],
        resources={
            "catalog": CatalogResource(url=EnvVar("T_CATALOG")),
            "acme": S3IntegrationResource(
                integration_name="acme",
                bucket=s3_bucket.name,
                region_name="us-east-1",
                endpoint_url=s3_bucket.endpoint,
                aws_access_key_id=EnvVar("T_AWS_KEY_ID"),
                aws_secret_access_key=EnvVar("T_AWS_SECRET"),
            ),
            "hospital": AzureIntegrationResource(
                integration_name="hospital",
                account_url=azure_container.account_url,
                container=azure_container.name,
                credential=AzureBlobStorageSASTokenCredential(token=EnvVar("T_SAS")),
            ),
        },
    )
    Definitions.validate_loadable(defs)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process()
    assert result.success
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert (md["listed"].value, md["registered"].value, md["scans"].value) == (2, 1, 1)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    assert catalog.count_files("photos") == 1 and catalog.count_files("scans") == 1
    files = list(catalog.iter_files("photos"))
    assert (files[0].width, files[0].height) == (5, 4)
    # the secrets stayed environment variables: never in the run's events
    events = json.dumps([str(e) for e in result.all_events])
    assert S3_SECRET not in events and sas not in events
