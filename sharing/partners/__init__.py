"""The partner registry's reads; its writes are sharing.services.partners."""
