"""email address confirmation: the event setting and the pending sign-ups

Revision ID: d1c03db509df
Revises: 84493cc66c1d
Create Date: 2026-11-28 20:14:32.093381

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'd1c03db509df'
down_revision = '84493cc66c1d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_pending_signups_expires_after_creation')),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_pending_signups_token_hash_length')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_pending_signups_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_signups')),
    sa.UniqueConstraint('event_id', 'email_normalized', name='uq_pending_signups_event_email'),
    sa.UniqueConstraint('token_hash', name=op.f('uq_pending_signups_token_hash'))
    )
    with op.batch_alter_table('pending_signups', schema=None) as batch_op:
        batch_op.create_index('ix_pending_signups_expires_at', ['expires_at'], unique=False)

    # Existing events keep today's behaviour: no confirmation step.
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_email_address', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('confirm_email_address')

    with op.batch_alter_table('pending_signups', schema=None) as batch_op:
        batch_op.drop_index('ix_pending_signups_expires_at')

    op.drop_table('pending_signups')
