"""Scan stations: stored scans, batches (gang sheets, press runs), station state, reprint counts.

Reviewed by hand: columns are added with plain ALTER TABLE ADD COLUMN, never a batch "copy and move",
because rebuilding the events table on SQLite would drop its append-only triggers.

Revision ID: 0002_scans_batches
Revises: 0001_initial
"""
from alembic import op
import sqlalchemy as sa

revision = '0002_scans_batches'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def _add_fk_column(table, column, referred, name):
    """A nullable integer column with a named foreign key, added in place on both databases."""
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite can add a column with an inline REFERENCES clause, but not a separate constraint.
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES {referred} (id)')
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, referred, [column], ['id'])


def upgrade():
    op.create_table('batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=True),
    sa.Column('station', sa.String(length=40), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches')),
    sa.UniqueConstraint('code', name=op.f('uq_batches_code'))
    )
    op.create_table('station_states',
    sa.Column('station', sa.String(length=40), nullable=False),
    sa.Column('pending_order_id', sa.Integer(), nullable=True),
    sa.Column('pending_since', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pending_order_id'], ['orders.id'], name=op.f('fk_station_states_pending_order_id_orders')),
    sa.PrimaryKeyConstraint('station', name=op.f('pk_station_states'))
    )
    op.create_table('scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=64), nullable=False),
    sa.Column('station', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('operator', sa.String(length=80), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('from_stage', sa.String(length=40), nullable=True),
    sa.Column('to_stage', sa.String(length=40), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_scans_job_id_jobs')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_scans_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scans')),
    sa.UniqueConstraint('uid', name=op.f('uq_scans_uid'))
    )
    op.create_index(op.f('ix_scans_order_id'), 'scans', ['order_id'], unique=False)
    op.create_index('ix_scans_station_id', 'scans', ['station', 'id'], unique=False)

    _add_fk_column('events', 'scan_id', 'scans', 'fk_events_scan_id_scans')
    op.create_index(op.f('ix_events_scan_id'), 'events', ['scan_id'], unique=False)
    op.add_column('jobs', sa.Column('reprints', sa.Integer(), server_default='0', nullable=False))
    _add_fk_column('jobs', 'batch_id', 'batches', 'fk_jobs_batch_id_batches')
    op.add_column('jobs', sa.Column('batch_position', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_jobs_batch_id'), 'jobs', ['batch_id'], unique=False)
    op.create_index('ix_orders_stage_entered', 'orders', ['stage', 'stage_entered_at'], unique=False)


def downgrade():
    op.drop_index('ix_orders_stage_entered', table_name='orders')
    op.drop_index(op.f('ix_jobs_batch_id'), table_name='jobs')
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.drop_column('batch_position')
        batch_op.drop_column('batch_id')
        batch_op.drop_column('reprints')
    op.drop_index(op.f('ix_events_scan_id'), table_name='events')
    if op.get_bind().dialect.name == 'sqlite':
        # Dropping a column rebuilds the table on SQLite; the events table keeps its extra column
        # rather than lose its append-only triggers.
        pass
    else:
        op.drop_column('events', 'scan_id')
    op.drop_index('ix_scans_station_id', table_name='scans')
    op.drop_index(op.f('ix_scans_order_id'), table_name='scans')
    op.drop_table('scans')
    op.drop_table('station_states')
    op.drop_table('batches')
