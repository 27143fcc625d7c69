"""The wire layer shared by every /v1 resource."""
