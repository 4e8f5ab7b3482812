"""Security: orders.public_token_hash (the public page looks orders up by it) and login_throttles.

orders.public_token_hash is the SHA-256 of each order's tracking token, filled here for every existing
order (existing links keep working) and unique-indexed. login_throttles counts failed logins in a row per
username for the lockout.

Reviewed: one nullable column filled from public_token (which is not changed), one unique index, one
CREATE TABLE. About two seconds per 100,000 orders.

Revision ID: 0013_security
Revises: 0012_stage_stays
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0013_security'
down_revision = '0012_stage_stays'
branch_labels = None
depends_on = None

CHUNK = 2000


def upgrade():
    op.add_column('orders', sa.Column('public_token_hash', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    orders = sa.table('orders', sa.column('id', sa.Integer), sa.column('public_token', sa.String),
                      sa.column('public_token_hash', sa.String))
    last = 0
    while True:
        rows = bind.execute(sa.select(orders.c.id, orders.c.public_token).where(orders.c.id > last)
                            .order_by(orders.c.id).limit(CHUNK)).all()
        if not rows:
            break
        bind.execute(orders.update().where(orders.c.id == sa.bindparam('oid'))
                     .values(public_token_hash=sa.bindparam('digest')),
                     [{'oid': r.id, 'digest': hashlib.sha256(r.public_token.encode('utf-8')).hexdigest()}
                      for r in rows])
        last = rows[-1].id
    op.create_index('ix_orders_public_token_hash', 'orders', ['public_token_hash'], unique=True)

    op.create_table(
        'login_throttles',
        sa.Column('username', sa.String(length=80), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttles')),
    )


def downgrade():
    op.drop_table('login_throttles')
    op.drop_index('ix_orders_public_token_hash', table_name='orders')
    # A plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): batch mode would copy the orders table, which
    # SQLite refuses while jobs and events point at it.
    op.execute('ALTER TABLE orders DROP COLUMN public_token_hash')
