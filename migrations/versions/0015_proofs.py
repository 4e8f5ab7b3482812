"""Artwork proofs: the proofs table, and on jobs the latest proof's state, the customer's comment and
the time the job has waited for the customer.

Reviewed: nullable columns (wait_seconds with a server default of 0) and one CREATE TABLE; no data is
rewritten.

Revision ID: 0015_proofs
Revises: 0014_label_purchases
"""
import sqlalchemy as sa
from alembic import op

revision = '0015_proofs'
down_revision = '0014_label_purchases'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD / DROP COLUMN, as 0014: batch mode would copy the jobs table, which others point at.
    op.add_column('jobs', sa.Column('proof_state', sa.String(length=20), nullable=True))
    op.add_column('jobs', sa.Column('proof_comment', sa.Text(), nullable=True))
    op.add_column('jobs', sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
    op.add_column('jobs', sa.Column('wait_seconds', sa.Integer(), server_default='0', nullable=False))
    op.add_column('jobs', sa.Column('wait_stay', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'proofs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=50), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('stored_as', sa.String(length=100), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('posted_by', sa.String(length=80), nullable=True),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_proofs_job_id_jobs')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_proofs_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_proofs')),
        sa.UniqueConstraint('job_id', 'version', name=op.f('uq_proofs_job_id_version')),
        sa.UniqueConstraint('stored_as', name=op.f('uq_proofs_stored_as')),
    )
    op.create_index(op.f('ix_proofs_order_id'), 'proofs', ['order_id'], unique=False)
    op.create_index('ix_proofs_state_posted', 'proofs', ['state', 'posted_at'], unique=False)


def downgrade():
    op.drop_index('ix_proofs_state_posted', table_name='proofs')
    op.drop_index(op.f('ix_proofs_order_id'), table_name='proofs')
    op.drop_table('proofs')
    for name in ('wait_stay', 'wait_seconds', 'waiting_since', 'proof_comment', 'proof_state'):
        op.execute(f'ALTER TABLE jobs DROP COLUMN {name}')
