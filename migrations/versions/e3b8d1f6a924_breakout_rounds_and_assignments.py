"""breakout rounds and assignments

Revision ID: e3b8d1f6a924
Revises: fdcb80240bae
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'e3b8d1f6a924'
down_revision = 'fdcb80240bae'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('breakout_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'published', name='roundstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('diversity', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('penalty', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('number >= 1', name=op.f('ck_breakout_rounds_number_positive')),
    sa.CheckConstraint('penalty BETWEEN 0 AND 100', name=op.f('ck_breakout_rounds_penalty_range')),
    sa.CheckConstraint("status <> 'published' OR published_at IS NOT NULL", name=op.f('ck_breakout_rounds_published_has_time')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_breakout_rounds_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['programme_sessions.id'], name=op.f('fk_breakout_rounds_session_id_programme_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breakout_rounds')),
    sa.UniqueConstraint('event_id', 'number', name='uq_breakout_rounds_event_number')
    )
    op.create_table('breakout_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('source', sa.Enum('solver', 'manual', name='assignmentsource', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['breakout_groups.id'], name=op.f('fk_breakout_assignments_group_id_breakout_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_breakout_assignments_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['breakout_rounds.id'], name=op.f('fk_breakout_assignments_round_id_breakout_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breakout_assignments')),
    sa.UniqueConstraint('round_id', 'registration_id', name='uq_breakout_assignments_round_registration')
    )
    with op.batch_alter_table('breakout_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_breakout_assignments_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_breakout_assignments_registration_id'), ['registration_id'], unique=False)


def downgrade():
    with op.batch_alter_table('breakout_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_breakout_assignments_registration_id'))
        batch_op.drop_index(batch_op.f('ix_breakout_assignments_group_id'))

    op.drop_table('breakout_assignments')
    op.drop_table('breakout_rounds')
