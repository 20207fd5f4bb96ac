-- The demo source database: a PSA's own tables, read by `concord connect postgres`.
-- Runs once, when the source-db container is first created (docker-entrypoint-initdb.d).
CREATE TABLE clients (id int PRIMARY KEY, name text, website text, country text);
CREATE TABLE employees (
    id int PRIMARY KEY, first_name text, last_name text, email text, skills text[],
    manager_id int REFERENCES employees
);
CREATE TABLE projects (
    id int PRIMARY KEY, code text, title text, starts date, budget numeric(12, 2),
    billable boolean, state char(1), client_id int REFERENCES clients,
    manager_id int REFERENCES employees
);
CREATE PUBLICATION concord FOR TABLE clients, employees, projects;

INSERT INTO clients VALUES
    (1, 'Acme Consulting Ltd', 'https://acme.example', 'GB'),
    (2, 'Northwind Traders', 'https://northwind.example', 'US');
INSERT INTO employees VALUES
    (10, 'Ada', 'Byron', 'ada@psa.example', '{python,architecture}', NULL),
    (11, 'Grace', 'Hopper', 'grace@psa.example', '{cobol,compilers}', 10);
INSERT INTO projects VALUES
    (100, 'ACME-01', 'Data platform', '2026-01-15', 125000.00, true, 'A', 1, 10),
    (101, 'NW-07', 'ERP rollout', '2026-03-01', 90000.00, true, 'P', 2, 11);
