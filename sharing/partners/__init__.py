"""The partner registry's and the policy cards' reads; their writes are sharing.services.partners and .policies."""
