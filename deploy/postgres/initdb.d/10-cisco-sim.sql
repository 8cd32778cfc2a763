-- The Cisco simulator's database (dev stacks only): ECM's own database is
-- POSTGRES_DB (ecm). Run once by the postgres image on first start.
CREATE DATABASE cisco_sim;
