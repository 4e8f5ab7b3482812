"""Labels bought in Inktrail: label_purchases, the full ship-to address on orders, return and voided
shipments, and the package last picked at a station.

Reviewed: nullable columns and one CREATE TABLE; no data is rewritten.

Revision ID: 0014_label_purchases
Revises: 0013_security
"""
import sqlalchemy as sa
from alembic import op

revision = '0014_label_purchases'
down_revision = '0013_security'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD / DROP COLUMN (SQLite 3.35+ and PostgreSQL): batch mode would copy the tables, which
    # SQLite refuses while other tables point at them.
    for name, length in (('ship_name', 200), ('ship_company', 200), ('ship_street1', 200), ('ship_street2', 200),
                         ('ship_postal', 20)):
        op.add_column('orders', sa.Column(name, sa.String(length=length), nullable=True))
    op.add_column('shipments', sa.Column('is_return', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('shipments', sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('station_states', sa.Column('package', sa.String(length=40), nullable=True))
    op.create_table(
        'label_purchases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=True),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('is_return', sa.Boolean(), nullable=False),
        sa.Column('package', sa.Text(), nullable=False),
        sa.Column('quote_ref', sa.String(length=100), nullable=False),
        sa.Column('rates', sa.Text(), nullable=False),
        sa.Column('label_format', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('rate_id', sa.String(length=100), nullable=True),
        sa.Column('carrier', sa.String(length=20), nullable=True),
        sa.Column('service', sa.String(length=100), nullable=True),
        sa.Column('amount', sa.String(length=20), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('delivery_days', sa.Integer(), nullable=True),
        sa.Column('purchase_ref', sa.String(length=100), nullable=True),
        sa.Column('tracking_number', sa.String(length=64), nullable=True),
        sa.Column('label_url', sa.String(length=1000), nullable=True),
        sa.Column('shipment_id', sa.Integer(), nullable=True),
        sa.Column('printer', sa.String(length=40), nullable=True),
        sa.Column('station', sa.String(length=40), nullable=True),
        sa.Column('requested_by', sa.String(length=80), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('refund_status', sa.String(length=20), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('bought_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_label_purchases_order_id_orders')),
        sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_label_purchases_shipment_id_shipments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_label_purchases')),
        sa.UniqueConstraint('key', name=op.f('uq_label_purchases_key')),
    )
    op.create_index('ix_label_purchases_order', 'label_purchases', ['order_id', 'status'], unique=False)


def downgrade():
    op.drop_index('ix_label_purchases_order', table_name='label_purchases')
    op.drop_table('label_purchases')
    for table, name in (('station_states', 'package'), ('shipments', 'voided_at'), ('shipments', 'is_return'),
                        ('orders', 'ship_postal'), ('orders', 'ship_street2'), ('orders', 'ship_street1'),
                        ('orders', 'ship_company'), ('orders', 'ship_name')):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {name}')
