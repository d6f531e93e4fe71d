"""event image and flyer: one of each per event, its bytes in storage (app/storage.py)

Revision ID: 7dfe55194e2c
Revises: d1c03db509df
Create Date: 2026-12-07 23:59:10.662946

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7dfe55194e2c'
down_revision = 'd1c03db509df'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('event_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('image', 'flyer', name='mediakind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(description) > 0', name=op.f('ck_event_media_description_given')),
    sa.CheckConstraint('size > 0', name=op.f('ck_event_media_size_positive')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_media_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_media')),
    sa.UniqueConstraint('event_id', 'kind', name='uq_event_media_event_kind'),
    sa.UniqueConstraint('storage_key', name=op.f('uq_event_media_storage_key'))
    )


def downgrade():
    op.drop_table('event_media')
