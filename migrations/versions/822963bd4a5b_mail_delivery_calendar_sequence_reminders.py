"""mail delivery: outbox claims and dedup key; event calendar sequence and reminder hours

Revision ID: 822963bd4a5b
Revises: fdcb80240bae
Create Date: 2026-11-28 18:00:00.000000

Every change is an ALTER TABLE ... ADD COLUMN or CREATE INDEX (recreate="never"): on SQLite
a batch "move and copy" of `events` would drop the old table with foreign keys on, and the
implicit DELETE would cascade to registrations.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '822963bd4a5b'
down_revision = 'fdcb80240bae'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'calendar_sequence', sa.Integer(),
            sa.CheckConstraint('calendar_sequence >= 0',
                               name=op.f('ck_events_calendar_sequence_nonnegative')),
            nullable=False, server_default='0'))
        batch_op.add_column(sa.Column(
            'reminder_hours_before', sa.Integer(),
            sa.CheckConstraint('reminder_hours_before BETWEEN 0 AND 336',
                               name=op.f('ck_events_reminder_hours_range')),
            nullable=False, server_default='24'))

    with op.batch_alter_table('outbox_messages', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('dedup_key', sa.String(length=200), nullable=True))
        batch_op.create_index('uq_outbox_messages_dedup_key', ['dedup_key'], unique=True)


def downgrade():
    # Dropping columns needs a table copy on SQLite; only the outbox may be copied safely.
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('uq_outbox_messages_dedup_key')
        batch_op.drop_column('dedup_key')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('claimed_at')

    with op.batch_alter_table('events', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('reminder_hours_before')
        batch_op.drop_column('calendar_sequence')
