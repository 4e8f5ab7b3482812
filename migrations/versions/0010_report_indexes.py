"""Indexes for reports: events, scans and shipments by time.

Indexes for reports: events, scans and shipments by time, so a report over a date range reads that
range only, however long the history.

Reviewed: three CREATE INDEX.

Revision ID: 0010_report_indexes
Revises: 0009_external_updated_at
"""
from alembic import op

revision = '0010_report_indexes'
down_revision = '0009_external_updated_at'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_events_at', 'events', ['at'], unique=False)
    op.create_index('ix_scans_received_at', 'scans', ['received_at'], unique=False)
    op.create_index('ix_shipments_created_at', 'shipments', ['created_at'], unique=False)


def downgrade():
    op.drop_index('ix_shipments_created_at', table_name='shipments')
    op.drop_index('ix_scans_received_at', table_name='scans')
    op.drop_index('ix_events_at', table_name='events')
