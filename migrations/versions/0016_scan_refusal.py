"""scans.refusal: why a refused scan was refused, as a kind ("unknown": a code nothing has; "rules": the
lifecycle's rules or the station's said no), so its answer's status (422 or 409, the same on a replay) is
read from the row, not from the words of its message.

Reviewed: one nullable column; the refused scans stored before it are given their kind once, here, by the
rule the scan page used until now (a code of no known shape, or a message starting "Unknown code").

Revision ID: 0016_scan_refusal
Revises: 0015_proofs
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_scan_refusal'
down_revision = '0015_proofs'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('scans', sa.Column('refusal', sa.String(length=12), nullable=True))
    scans = sa.table('scans', sa.column('ok', sa.Boolean), sa.column('kind', sa.String),
                     sa.column('message', sa.Text), sa.column('refusal', sa.String))
    unknown = sa.or_(scans.c.kind == 'unknown', scans.c.message.like('Unknown code%'))
    op.execute(scans.update().where(scans.c.ok == sa.false())
               .values(refusal=sa.case((unknown, 'unknown'), else_='rules')))


def downgrade():
    op.execute('ALTER TABLE scans DROP COLUMN refusal')
