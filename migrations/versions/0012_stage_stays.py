"""Stage stays: each job's and order's time in each stage, for the reports (issue 9).

Creates stage_stays and fills it from the events already recorded (domain/stays.py, the same rules the
move service uses from now on). Filling replays every order's events once: about a minute for 100,000
orders on a shop computer; it runs once, under the start-up migration lock.

Reviewed: one CREATE TABLE, four CREATE INDEX, INSERTs derived from events (which are not changed).

Revision ID: 0012_stage_stays
Revises: 0011_shipment_delivered_index
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_stage_stays'
down_revision = '0011_shipment_delivered_index'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stage_stays',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('stage', sa.String(length=40), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_by', sa.String(length=40), nullable=True),
        sa.Column('scan_id', sa.Integer(), nullable=True),
        sa.Column('method', sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stage_stays_left', 'stage_stays',
                    ['left_at', 'stage', 'job_id', 'ended_by', 'entered_at', 'method'], unique=False)
    op.create_index('ix_stage_stays_entered', 'stage_stays',
                    ['stage', 'entered_at', 'job_id', 'left_at', 'scan_id'], unique=False)
    op.create_index('ix_stage_stays_order_job', 'stage_stays', ['order_id', 'job_id', 'stage'], unique=False)
    op.create_index('ix_stage_stays_job_stage', 'stage_stays', ['job_id', 'stage'], unique=False)

    from tracker.services.stays import rebuild_all

    rebuild_all(op.get_bind())


def downgrade():
    op.drop_index('ix_stage_stays_job_stage', table_name='stage_stays')
    op.drop_index('ix_stage_stays_order_job', table_name='stage_stays')
    op.drop_index('ix_stage_stays_entered', table_name='stage_stays')
    op.drop_index('ix_stage_stays_left', table_name='stage_stays')
    op.drop_table('stage_stays')
