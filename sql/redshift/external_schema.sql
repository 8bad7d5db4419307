-- Redshift Spectrum: the lake's Glue database as an external schema `imglake`, so that
-- imglake.image_events is queryable from Redshift. Run once, as a superuser or the schema owner.
--
-- Placeholders, replaced at deploy time (see sql/README.md):
--   glue_database      Glue database holding image_events (the one Athena uses)
--   spectrum_role_arn  IAM role associated with the cluster or workgroup, allowed to read the
--                      Glue catalog and the lake bucket (glue:Get*, s3:GetObject, s3:ListBucket)
--   aws_region         region of the Glue catalog and the lake bucket
--
-- Spectrum ignores Athena's partition projection (the projection.* table properties): it only
-- reads the partitions registered in the Glue catalog. The stream-export Lambda registers each
-- new dt/hour partition in Glue when IMGLAKE_GLUE_DATABASE and IMGLAKE_GLUE_TABLE are set (as
-- terraform/ sets them), so Spectrum sees what Athena sees; for a partition written by another
-- tool, sql/redshift/partitions.sql lists the registered partitions and registers one by hand.
-- Give analysts USAGE on the schema afterwards: GRANT USAGE ON SCHEMA imglake TO GROUP <group>.
CREATE EXTERNAL SCHEMA IF NOT EXISTS imglake
FROM DATA CATALOG
DATABASE '${glue_database}'
IAM_ROLE '${spectrum_role_arn}'
REGION '${aws_region}';
