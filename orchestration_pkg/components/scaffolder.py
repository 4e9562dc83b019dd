"""``dg scaffold defs orchestration_pkg.components.CatalogFoldersComponent NAME``: a commented
``defs.yaml`` that loads as written (one S3 integration on the default credential chain)."""

import dagster as dg

TEMPLATE = """\
type: TYPE_NAME

attributes:
  # The config of orchestration_pkg.yaml; secrets as {{ env.VAR }}.
  catalog: sqlite:///catalog.db        # or postgresql+psycopg://user@host/catalog
  key_prefix: orchestration_pkg        # asset keys: [key_prefix, folder, <name>]; another
                                       # prefix also scopes names: <prefix>__register_manifest_job
  integrations:
    - name: acme
      provider: s3
      bucket: my-bucket
      prefix: raw/
      region: eu-central-1
      auth: {method: default}          # boto3's chain; or keys:
      # auth:
      #   method: access_key
      #   access_key_id: "{{ env.AWS_ACCESS_KEY_ID }}"
      #   secret_access_key: "{{ env.AWS_SECRET_ACCESS_KEY }}"
      # watch: {folder: incoming, prefix: incoming/}   # batch-partitioned asset + sensor
  folders:
    lake:
      manifest: s3://my-bucket/raw/manifests/lake.json   # registered on materialization
      check: {severity: warn, blocking: false}
  # Credentials of a dagster_aws.S3ResourceComponent in defs/aws (instead of auth):
  # credentials_from: {acme: aws}
  # translation: {group_name: "media_{{ integration }}", owners: ["team:media"]}
"""


class CatalogFoldersScaffolder(dg.Scaffolder):
    """Writes the commented ``defs.yaml`` above (a YAML dump would lose the comments)."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        if request.scaffold_format != "yaml":
            dg.scaffold_component(request)
            return
        path = request.target_path / "defs.yaml"
        path.write_text(TEMPLATE.replace("TYPE_NAME", request.type_name), encoding="utf-8")
