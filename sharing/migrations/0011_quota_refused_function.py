from django.db import migrations

# Raised by the quota claim's statement when a window refuses (sharing.lookups.quotas): the error
# aborts the claim's transaction inside the database, so the claim, the reads and the commit go
# out in one round trip. SQLSTATE RSQ01 is ours (implementation-defined class RS); the window that
# refused travels in DETAIL.
CREATE = """
CREATE FUNCTION riskshare_quota_refused(refused_window text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'lookup quota refused' USING ERRCODE = 'RSQ01', DETAIL = refused_window;
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0010_lookup_entry_hit_token_hash"),
    ]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION riskshare_quota_refused(text)"),
    ]
