"""Index shipments.delivered_at: the carriers report reads the parcels delivered in its date range.

Reviewed: one CREATE INDEX.

Revision ID: 0011_shipment_delivered_index
Revises: 0010_report_indexes
"""
from alembic import op

revision = '0011_shipment_delivered_index'
down_revision = '0010_report_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_shipments_delivered_at', 'shipments', ['delivered_at'], unique=False)


def downgrade():
    op.drop_index('ix_shipments_delivered_at', table_name='shipments')
