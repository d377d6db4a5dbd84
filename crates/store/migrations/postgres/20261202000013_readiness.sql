-- One row written by every readiness check (GET /ready): a database that cannot take this
-- write (full, read-only, unreachable) is not ready, whatever a read says.
create table readiness_probe (
    id integer primary key,
    checked_at bigint not null
);
