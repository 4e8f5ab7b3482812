"""orders.external_updated_at: the marketplace's last change.

The marketplace's own last-change time of an order, so an older update that arrives late is not
applied over a newer one.

Reviewed: one nullable column, plain ALTER TABLE ADD COLUMN.

Revision ID: 0009_external_updated_at
Revises: 0008_marketplaces
"""
from alembic import op
import sqlalchemy as sa

revision = '0009_external_updated_at'
down_revision = '0008_marketplaces'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('orders', sa.Column('external_updated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_column('external_updated_at')
