"""submissions.idempotency_key: a retried submission answers the same row (issue 17)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 14:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch.create_unique_constraint('uq_submissions_user_idempotency_key', ['user_id', 'idempotency_key'])


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_constraint('uq_submissions_user_idempotency_key', type_='unique')
        batch.drop_column('idempotency_key')
