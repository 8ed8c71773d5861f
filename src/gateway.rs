//! The glue between the SMTP session and policy, intake and spool.
