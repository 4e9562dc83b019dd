"""Azure Blob Storage: one container + optional prefix of a storage account."""
