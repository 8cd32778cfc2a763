-- Cisco target kinds (issue 15). A voice campaign reaches Cisco through one
-- of three interfaces: 'uccx' (UCCX Outbound REST import), 'ucce_api'
-- (UCCE/PCCE Outbound API import) or 'ucce_db' (rows written over ODBC into
-- the import table the customer configures, which the Campaign Manager's
-- import rule picks up). The old value 'cce' never dispatched anything; its
-- campaigns become 'ucce_db' with the import table named after the Cisco
-- campaign, which an administrator can change.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_cisco_kind_check;
ALTER TABLE campaigns ADD COLUMN cisco_import_table text;
ALTER TABLE campaigns ADD COLUMN cisco_dialing_list text;
UPDATE campaigns SET cisco_kind = 'ucce_db', cisco_import_table = 'Import_' || cisco_campaign_id
WHERE cisco_kind = 'cce';
ALTER TABLE campaigns ADD CONSTRAINT campaigns_cisco_kind_check
    CHECK (cisco_kind IN ('uccx', 'ucce_api', 'ucce_db'));
-- Table names go into SQL text on the customer's server: plain identifiers,
-- optionally schema-qualified, as ecm_odbc_validate_identifier() accepts.
ALTER TABLE campaigns ADD CONSTRAINT campaigns_cisco_tables_check CHECK (
    (cisco_import_table IS NULL OR cisco_import_table ~ '^[A-Za-z_][A-Za-z0-9_.]{0,127}$')
    AND (cisco_dialing_list IS NULL OR cisco_dialing_list ~ '^[A-Za-z_][A-Za-z0-9_.]{0,127}$')
    AND (cisco_kind IS DISTINCT FROM 'ucce_db' OR cisco_import_table IS NOT NULL));
